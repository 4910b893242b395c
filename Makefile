# Vexil's front door. `make run` and `make test` work on a fresh Debian 12
# machine: they install what is missing, build, and run.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
SPECS      ?= $(abspath ../shared/specs)

.PHONY: all build deps test-deps run test unit asan fuzz-smoke compat integration ui store-pg ai gateway lint fuzz bench bench-server bench-sdk bench-gateway bench-replicas format clean

all: build

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

build: deps
	@cmake -S . -B $(BUILD) -DVX_WERROR=ON -DVX_SPEC_ROOT=$(SPECS) $(CMAKE_ARGS) >/dev/null
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
# private server, and the source checks.
test: test-deps lint unit asan fuzz-smoke compat integration ui store-pg ai gateway
	@echo "make test: all suites passed"

unit: build
	@ctest --test-dir $(BUILD) --output-on-failure -j$(JOBS)

asan: test-deps
	@CC=clang-14 cmake -S . -B $(ASAN_BUILD) -DVX_WERROR=ON -DVX_ASAN=ON -DVX_UBSAN=ON \
	  -DVX_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug -DVX_SPEC_ROOT=$(SPECS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j$(JOBS)
	@ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --test-dir $(ASAN_BUILD) --output-on-failure -j$(JOBS)

fuzz-smoke: test-deps
	@tests/fuzz/run.sh 15

fuzz: test-deps
	@tests/fuzz/run.sh $${FUZZ_SECONDS:-300}

compat: build
	@VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil VEXIL_SPECS=$(SPECS)/unleash-client-spec \
	  tests/compat/run.sh

integration: build
	@VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil tests/integration/run.sh

# The web console in Debian's chromium (playwright-core); screenshots of
# each page go to $(BUILD)/ui-artifacts/.
ui: build test-deps
	@VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil VEXIL_UI_ARTIFACTS=$(abspath $(BUILD))/ui-artifacts \
	  tests/ui/run.sh

# The PostgreSQL backend on a private server (tests/support/pg.sh starts it
# in a temporary directory and stops it after): the store contract suite,
# `vexil migrate` from SQLite, the integration tests with every server
# on PostgreSQL (VEXIL_IT_PG_DSN), then the replica tests (two servers on
# one database; they stop and restart that PostgreSQL, so they run alone).
store-pg: build test-deps
	@tests/support/pg.sh run sh -c '\
	  ctest --test-dir $(BUILD) --output-on-failure -R "^(store_contract_pg|cli_migrate_pg)$$" \
	    --no-tests=error && \
	  VEXIL_IT_PG_DSN="$$VEXIL_TEST_PG_DSN" VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil \
	    tests/integration/run.sh && \
	  VEXIL_IT_PG_DSN="$$VEXIL_TEST_PG_DSN" VEXIL_BIN=$(abspath $(BUILD))/src/cli/vexil \
	    tests/integration/run.sh tests/replicas/'

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

lint:
	@tools/check-source.sh

# Installs the vexil binary, libvexil and libvexil-client (shared), the
# headers and the pkg-config files under PREFIX (DESTDIR is honoured).
PREFIX ?= /usr/local
.PHONY: install
install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

bench: deps
	@bench/run.sh

# The SDK hub under load: many streams (RSS, propagation), and
# /api/client/features while 50 connections write (bench/hub/run.sh).
.PHONY: bench-hub
bench-hub: build test-deps
	@bench/hub/run.sh $(abspath $(BUILD))/src/cli/vexil

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
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz build-bench
