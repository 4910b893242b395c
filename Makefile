# Vexil's front door. `make run` and `make test` work on a fresh Debian 12
# machine: they install what is missing, build, and run.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
SPECS      ?= $(abspath ../shared/specs)

.PHONY: all build deps test-deps run test unit asan fuzz-smoke compat lint fuzz bench format clean

all: build

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

build: deps
	@cmake -S . -B $(BUILD) -DVX_WERROR=ON -DVX_SPEC_ROOT=$(SPECS) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Until the server lands, the main job is offline evaluation: evaluate the
# example flag set for the example contexts.
run: build
	@echo "vexil $$($(BUILD)/src/cli/vexil version | cut -d' ' -f2): the server is not built yet;"
	@echo "running the offline evaluator on examples/features.json:"
	@echo "  $(BUILD)/src/cli/vexil eval --features examples/features.json --contexts examples/contexts.json"
	@$(BUILD)/src/cli/vexil eval --features examples/features.json --contexts examples/contexts.json

# Every suite: unit + spec (ctest), the same under ASan+UBSan, a short run
# of each fuzzer, the differential test against the real Unleash Node SDK,
# and the source checks.
test: test-deps lint unit asan fuzz-smoke compat
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

lint:
	@tools/check-source.sh

bench: deps
	@bench/run.sh

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz build-bench
