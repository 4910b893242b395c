#!/usr/bin/env bash
# Source rules that a compiler does not check (STYLE.md rules 1, 9, 11, 15):
# banned functions, assignments inside conditions, include edges between
# modules, and formatting. Exits non-zero on the first kind of violation.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
files=$(git ls-files 'src/*.c' 'src/*.h' 'include/*.h' 'tests/*.c' 'bench/*.c' 'examples/*.c' 2>/dev/null)
[ -n "$files" ] || { echo "check-source: no sources?"; exit 1; }

# 1. Banned functions.
if grep -nE '(^|[^_a-zA-Z0-9])(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets)\s*\(' $files; then
  echo "check-source: banned function (use snprintf, memcpy with a length, strtol...)"
  status=1
fi

# 2. Assignment inside if/while conditions: `if ((x = f()))`.
if grep -nE '(if|while) \(\(?[a-zA-Z_][a-zA-Z0-9_>.-]* = ' $(git ls-files 'src/*.c'); then
  echo "check-source: assignment inside a condition"
  status=1
fi

# 3. Module edges: base <- core <- ... <- service <- hub <- server; the CLI
# sees only the public API.
if grep -nE '#include "(core|cli|store|service|server|guard|ai|gateway)/' $(git ls-files 'src/base/*'); then
  echo "check-source: src/base must not include other modules"; status=1
fi
if grep -nE '#include "(cli|store|service|server|guard|ai|gateway)/' $(git ls-files 'src/core/*'); then
  echo "check-source: src/core must not include modules above it"; status=1
fi
if grep -nE '#include "(cli|store|service|server|guard|ai|gateway)/' $(git ls-files 'src/sdk/*'); then
  echo "check-source: src/sdk (libvexil-client) uses only base and the public API"; status=1
fi
if grep -nE '#include "(cli|server|ai|gateway)/' $(git ls-files 'src/hub/*'); then
  echo "check-source: src/hub (the SDK state) uses service and below"; status=1
fi
if grep -nE '#include "hub/' $(git ls-files 'src/base/*' 'src/core/*' 'src/store/*' 'src/service/*'); then
  echo "check-source: modules below the hub must not include it"; status=1
fi
# The edge (docs/edge.md) sits between server and cli: nothing below it
# includes it, and it uses no cli, ai or gateway.
if grep -nE '#include "edge/' $(git ls-files 'src/base/*' 'src/core/*' 'src/store/*' 'src/service/*' 'src/hub/*' 'src/server/*' 'src/sdk/*'); then
  echo "check-source: only src/cli may include src/edge"; status=1
fi
if grep -nE '#include "(cli|ai|gateway)/' $(git ls-files 'src/edge/*'); then
  echo "check-source: src/edge uses server, hub, service and below"; status=1
fi
if grep -nE '#include "(core|base)/' $(git ls-files 'src/cli/*'); then
  echo "check-source: src/cli uses only include/vexil"; status=1
fi

# 4. Formatting.
fmt=$(command -v clang-format-14 || command -v clang-format || true)
if [ -n "$fmt" ]; then
  if ! $fmt --dry-run --Werror $(git ls-files '*.c' '*.h') 2>/tmp/vx-fmt.$$; then
    head -20 /tmp/vx-fmt.$$
    echo "check-source: run 'make format'"
    status=1
  fi
  rm -f /tmp/vx-fmt.$$
else
  echo "check-source: clang-format not installed, formatting not checked"
fi
[ $status -eq 0 ] && echo "check-source: ok"
exit $status
