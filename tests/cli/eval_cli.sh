#!/usr/bin/env bash
# `vexil eval` as a user drives it: answers, narrowing, stdin, and every
# malformed-input path reported with file:line:column, a JSON pointer and
# exit status 2. Usage: eval_cli.sh VEXIL_BINARY EXAMPLES_DIR
set -uo pipefail
vexil=$1 ex=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0

check() { # name, expected status, expected stderr/stdout regex, command...
  local name=$1 want=$2 pattern=$3
  shift 3
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  if [ "$got" -ne "$want" ] || ! grep -qE -- "$pattern" "$tmp/out" "$tmp/err"; then
    echo "FAIL: $name (status $got, want $want; pattern '$pattern')"
    sed 's/^/  out: /' "$tmp/out" | head -5
    sed 's/^/  err: /' "$tmp/err" | head -5
    fail=$((fail + 1))
  else
    pass=$((pass + 1))
  fi
}

check "example evaluates" 0 '"new-checkout":\{"enabled":true,"variant":\{"name":"green"' \
  "$vexil" eval --features "$ex/features.json" --contexts "$ex/contexts.json"
check "one line per context" 0 '^3$' \
  sh -c "\"$vexil\" eval --features \"$ex/features.json\" --contexts \"$ex/contexts.json\" | wc -l"
check "--flag narrows the output" 0 '^\{"dark-mode":[^,]*,"variant":\{[^}]*\}\}\}$' \
  "$vexil" eval --features "$ex/features.json" --context '{"properties":{"plan":"pro"}}' --flag dark-mode
check "features from stdin" 0 '"beta-dashboard":\{"enabled":false' \
  sh -c "\"$vexil\" eval --features - --context '{}' < \"$ex/features.json\""
check "unknown --flag" 2 "no flag named 'nope'" \
  "$vexil" eval --features "$ex/features.json" --context '{}' --flag nope
check "missing --features" 2 'need --features' "$vexil" eval --context '{}'
check "both context options" 2 'exactly one of' \
  "$vexil" eval --features "$ex/features.json" --context '{}' --contexts x.json
check "missing file" 2 'cannot open' "$vexil" eval --features "$tmp/none.json" --context '{}'

printf '{"version":2,\n "features": [\n  {"name":"a","enabled":true,"strategies":[]},\n' >"$tmp/trunc.json"
check "truncated JSON: line and column" 2 'trunc.json:4:1: ' \
  "$vexil" eval --features "$tmp/trunc.json" --context '{}'

printf '{"features":[\n {"name":"a","enabled":true,"strategies":[]},\n {"name":"b","enabled":"yes","strategies":[]}]}\n' >"$tmp/type.json"
check "wrong type: path, line, column" 2 'type.json:3:24: /features/1/enabled: expected a boolean, got a string' \
  "$vexil" eval --features "$tmp/type.json" --context '{}'

printf '{"features":[{"name":"a","enabled":true,"strategies":[\n  {"name":"flexibleRollout","parameters":{"stickiness":"default"}}]}]}\n' >"$tmp/param.json"
check "missing required parameter" 2 '/features/0/strategies/0/parameters/rollout: strategy "flexibleRollout" needs the parameter "rollout"' \
  "$vexil" eval --features "$tmp/param.json" --context '{}'

printf '{"features":[{"name":"a","enabled":true,"strategies":[{"name":"myCustom","parameters":{}}]},\n{"name":"b","enabled":true,"strategies":[{"name":"default","constraints":[{"contextName":"x","operator":"FUTURE_OP","values":["1"]}]}]}]}\n' >"$tmp/unknown.json"
check "unknown strategy: warning, evaluated false" 0 'warning: .*unknown.json:1:.*/features/0/strategies/0/name: unknown strategy "myCustom"' \
  "$vexil" eval --features "$tmp/unknown.json" --context '{}'
check "unknown operator: warning" 0 'warning: .*/features/1/strategies/0/constraints/0/operator: unknown operator "FUTURE_OP"' \
  "$vexil" eval --features "$tmp/unknown.json" --context '{}'
check "unknown strategy and operator evaluate to off" 0 '^\{"a":\{"enabled":false.*"b":\{"enabled":false' \
  "$vexil" eval --features "$tmp/unknown.json" --context '{}'

check "context: wrong type" 2 'context:1:12: /userId: expected a string or null' \
  "$vexil" eval --features "$ex/features.json" --context '{"userId": 5}'
check "context: bad currentTime" 2 '/0/currentTime: not an ISO-8601' \
  "$vexil" eval --features "$ex/features.json" --context '[{"currentTime":"yesterday"}]'
check "context: not JSON" 2 'ctx.json:2:1: ' \
  sh -c "echo '[{' > \"$tmp/ctx.json\"; \"$vexil\" eval --features \"$ex/features.json\" --contexts \"$tmp/ctx.json\""
check "delta document" 0 '^\{"x":\{"enabled":true' \
  "$vexil" eval --features - --context '{}' <<<'{"events":[{"eventId":1,"type":"hydration","features":[{"name":"x","enabled":true,"strategies":[]},{"name":"y","enabled":true,"strategies":[]}],"segments":[]},{"eventId":2,"type":"feature-removed","featureName":"y","project":"default"}]}'

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
