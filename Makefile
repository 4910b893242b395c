# Vexil's front door. `make run` and `make test` work on a fresh Debian 12
# machine: they install what is missing, build, and run.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
# The Unleash client-specification vectors (the directory holding index.json):
# the npm package pinned in tests/spec/package-lock.json (make spec-vectors).
SPECS      ?= $(abspath tests/spec/node_modules/@unleash/client-specification/specifications)
# AUTO: the tests are configured when cmocka is installed, so `make run` and
# `make build` need only the build packages; the test targets ask for ON.
VX_TESTS   ?= AUTO

.PHONY: all build deps test-deps run test unit asan fuzz-smoke compat integration ui store-pg ai gateway lint fuzz bench bench-server bench-sdk bench-gateway bench-replicas format clean

all: build

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

# npm ci of the pinned @unleash/client-specification (tests/spec/README.md).
.PHONY: spec-vectors
spec-vectors: test-deps
	@tests/spec/install.sh

build: deps
	@cmake -S . -B $(BUILD) -DVX_WERROR=ON -DVX_TESTS=$(VX_TESTS) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# The server on 127.0.0.1:4242 with SQLite under ./data. The first start
# prints the admin token it creates; later starts mint a fresh one named
# "make-run" (revoking the previous) so the token is always on screen.
run: build
	@mkdir -p data
	@if [ -f data/vexil.db ]; then \
	  printf 'vexil: admin token "make-run" (the previous one is revoked): '; \
	  $(BUILD)/src/cli/vexil admin-token --database sqlite:./data/vexil.db --name make-run --rotate; \
	fi
	@exec $(BUILD)/src/cli/vexil serve --host 127.0.0.1 --port 4242 --database sqlite:./data/vexil.db

# Every suite: unit + spec (ctest), the same under ASan+UBSan, a short run
# of each fuzzer, the differential test against the real Unleash Node SDK,
# the browser tests of the web console, the PostgreSQL backend on a
# private server, the source checks, the Debian package installed,
# upgraded and purged on this machine, and the specification suites in a
# fresh clone of HEAD.
test: test-deps lint unit asan fuzz-smoke compat integration edge ui store-pg ai gateway package-test clone-test unleash-import
	@echo "make test: all suites passed"
test unit store-pg: VX_TESTS = ON

unit: test-deps spec-vectors build
	@VEXIL_SPECS=$(SPECS) ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS) --no-tests=error

asan: test-deps spec-vectors
	@CC=clang-14 cmake -S . -B $(ASAN_BUILD) -DVX_WERROR=ON -DVX_ASAN=ON -DVX_UBSAN=ON \
	  -DVX_TESTS=ON -DVX_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	@VEXIL_SPECS=$(SPECS) ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS) --no-tests=error

fuzz-smoke: test-deps
	@tests/fuzz/run.sh 15

fuzz: test-deps
	@tests/fuzz/run.sh $${FUZZ_SECONDS:-300}

compat: build spec-vectors
	@VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil VEXIL_SPECS=$(SPECS) \
	  tests/compat/run.sh

integration: build
	@VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil tests/integration/run.sh

# `vexil edge` against real servers: same bytes, changes, the upstream
# killed and restarted, an edge restarted while it is down, revocation,
# edges of edges, reports through an edge reaching release plans (the
# real SDKs against an edge run in `make compat`).
.PHONY: edge
edge: build
	@VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil tests/edge/run.sh

# The web console in Debian's chromium (playwright-core); screenshots of
# each page go to $(BUILD)/ui-artifacts/.
ui: build test-deps
	@VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil VEXIL_UI_ARTIFACTS=$(abspath $(BUILD))/ui-artifacts \
	  tests/ui/run.sh

# The PostgreSQL backend on a private server (tests/support/pg.sh starts it
# in a temporary directory and stops it after): the store contract suite,
# `vexil migrate` from SQLite, the integration tests with every server
# on PostgreSQL (VEXIL_IT_PG_DSN), then the replica tests (two servers on
# one database; they stop and restart that PostgreSQL, so they run alone),
# then the fault tests (tests/faults/: that PostgreSQL frozen with SIGSTOP;
# alone too).
store-pg: test-deps build
	@tests/support/pg.sh run sh -c '\
	  ctest --test-dir $(BUILD) --output-on-failure -R "^(store_contract_pg|cli_migrate_pg)$$" \
	    --no-tests=error && \
	  VEXIL_IT_PG_DSN="$$VEXIL_TEST_PG_DSN" VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil \
	    tests/integration/run.sh && \
	  VEXIL_IT_PG_DSN="$$VEXIL_TEST_PG_DSN" VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil \
	    tests/integration/run.sh tests/replicas/ && \
	  VEXIL_IT_PG_DSN="$$VEXIL_TEST_PG_DSN" VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil \
	    tests/integration/run.sh tests/faults/'

# The advisor end to end against tests/support/model_server.js (both model
# server dialects, every failure, privacy, prompt injection), plus the
# opt-in run against a real model (VEXIL_TEST_LLM_URL, VEXIL_TEST_LLM_MODEL).
ai: build
	@VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil tests/integration/run.sh tests/ai/

# The model gateway with the official `openai` and `ollama` npm clients
# against two tests/support/model_server.js upstreams (split, stickiness, streaming,
# fallback, measurements, limits, key hygiene).
gateway: build
	@VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil tests/gateway/run.sh

# Moving over from Unleash, proven: a real Unleash (npm unleash-server 8.x,
# Node 22 from npm when the machine's is older) on a private PostgreSQL is
# filled through its admin API, `vexil import --from-unleash` brings it
# over, and unleash-client answers the same from both over thousands of
# contexts (tests/unleash-import/run.sh).
.PHONY: unleash-import
unleash-import: build test-deps
	@VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil tests/unleash-import/run.sh

lint:
	@tools/check-source.sh

# Installs the vexil binary, libvexil and libvexil-client (shared), the
# headers and the pkg-config files under PREFIX (DESTDIR is honoured), and
# the service: the systemd unit, vexil.conf (/etc/vexil for the /usr and
# /usr/local prefixes) and the sysusers.d entry of the `vexil` user
# (cmake/VexilService.cmake; docs/operations.md).
PREFIX ?= /usr/local
.PHONY: install
install: build
	@DESTDIR=$(DESTDIR) cmake --install $(BUILD) --prefix $(PREFIX)
	@[ -n "$(DESTDIR)" ] || echo "make install: to run the service: systemd-sysusers && ldconfig && systemctl daemon-reload && systemctl enable --now vexil"

# The Debian package, build-deb/vexil_<version>-1_<arch>.deb (CPack;
# scripts/deb.sh, packaging/debian/). `make package-test` installs it on
# this machine, starts it as its unit would, checks /ready, upgrades over
# it, removes and purges it (tests/package/run.sh); `make clone-test` runs
# the specification suites in a fresh clone with nothing beside it
# (tests/clone/run.sh).
.PHONY: deb package-test clone-test
deb: deps
	@scripts/deb.sh >/dev/null

package-test: test-deps
	@tests/package/run.sh

clone-test: test-deps
	@tests/clone/run.sh

bench: deps
	@bench/run.sh

# `vexil import --from-unleash` of 10,000 flags, server side: time and
# memory on SQLite and on a private PostgreSQL (bench/import/run.sh).
.PHONY: bench-import
bench-import: deps test-deps
	@bench/import/run.sh

# The SDK hub under load: many streams (RSS, propagation), and
# /api/client/features while 50 connections write (bench/hub/run.sh).
.PHONY: bench-hub
bench-hub: build test-deps
	@bench/hub/run.sh $(abspath $(BUILD))/src/cli/vexil

# `vexil edge`: 10,000 streams on an edge and on a server (RSS per stream,
# propagation p50/p99/max), the frontend API through an edge against the
# server, server -> edge -> SDK propagation (bench/edge/run.sh).
.PHONY: bench-edge
bench-edge: build test-deps
	@command -v wrk >/dev/null || scripts/deps.sh bench
	@bench/edge/run.sh $(abspath $(BUILD))/src/cli/vexil

# Propagation latency between two replicas on a private PostgreSQL.
bench-replicas: build test-deps
	@bench/replicas/run.sh $(abspath $(BUILD))/src/cli/vexil

bench-server: build
	@command -v wrk >/dev/null || scripts/deps.sh bench
	@bench/server/run.sh $(abspath $(BUILD))/src/cli/vexil

# SDK endpoints under wrk (frontend, OFREP, client features 200/304); builds
# the server in Release into build-bench/.
bench-sdk: deps
	@command -v wrk >/dev/null || scripts/deps.sh bench
	@bench/server/sdk.sh

# The gateway's overhead against a local upstream that answers at once:
# added latency p50/p99 and proxied requests/s (wrk); Release build in
# build-bench/.
bench-gateway: deps
	@command -v wrk >/dev/null || scripts/deps.sh bench
	@bench/gateway/run.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz build-bench build-deb
