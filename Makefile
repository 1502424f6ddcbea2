# weir's entry points. `make` builds Release into build/; `make run` and `make test` first install
# any missing Debian packages (scripts/install-deps.sh), so both work on a fresh Debian 12 machine.
BUILD_DIR      ?= build
SANITIZE_DIR   ?= build-sanitize
JOBS           ?= $(shell nproc)
CMAKE_FLAGS    ?=
CTEST_FLAGS    ?= --output-on-failure --timeout 600
RUN_ARGS       ?= bench nexmark --query q0,q1,q2,q5,q7,q8,q11 --events 10000000
RUN_YSB_ARGS   ?= bench ysb --events 10000000

.PHONY: all build deps run test test-release test-sanitize bench format clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: $(BUILD_DIR)/build.ninja
	cmake --build $(BUILD_DIR) -j $(JOBS)

# The default run: Nexmark q0, q1, q2, q5, q7, q8, q11 over 10 M events each, then YSB over 10 M
# events, each printing nexmark-flink's summary table (docs/bench.md).
run: deps
	@$(MAKE) --no-print-directory build
	./$(BUILD_DIR)/weir $(RUN_ARGS)
	./$(BUILD_DIR)/weir $(RUN_YSB_ARGS)

# Every test: the Release build, then the same suites under AddressSanitizer + UBSan.
test: deps
	@$(MAKE) --no-print-directory test-release
	@$(MAKE) --no-print-directory test-sanitize

test-release: build
	cd $(BUILD_DIR) && ctest $(CTEST_FLAGS) -j $(JOBS)

$(SANITIZE_DIR)/build.ninja:
	cmake -S . -B $(SANITIZE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DWEIR_SANITIZE=address,undefined \
	  -DWEIR_BUILD_BENCH=OFF $(CMAKE_FLAGS)

test-sanitize: deps $(SANITIZE_DIR)/build.ninja
	cmake --build $(SANITIZE_DIR) -j $(JOBS)
	cd $(SANITIZE_DIR) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest $(CTEST_FLAGS) -j $(JOBS) -LE perf

bench: build
	@for b in $(BUILD_DIR)/bench/weir_*_bench; do echo "== $$b"; $$b --benchmark_repetitions=3 --benchmark_report_aggregates_only=true; done

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf $(BUILD_DIR) $(SANITIZE_DIR)
