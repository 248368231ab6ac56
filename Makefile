# The two commands a fresh machine needs:
#   make run    a local cluster demo (6 real valkey-server instances, 3 masters + 3 replicas, scaled to 8)
#   make test   the whole test suite: lint, sanitizers, then unit, integration (real servers),
#               upsun (simulated), chaos (four seeds) and k8s (real API server) through ctest
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DAUTOSHARD_WERROR=ON
endif

.PHONY: all deps build test lint sanitize unit integration run bench chaos clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Lint, the sanitizer stage and a short run of every fuzzer (15 s each, from
# the seed corpora, libFuzzer seed 1 so that runs explore alike) run first so
# that ctest's summary is the last word.
test: build
	@sh scripts/lint.sh all
	@sh scripts/sanitize.sh $(BUILD)
	@FUZZ_SEED=1 sh scripts/fuzz.sh 15 $(BUILD)/build-fuzz
	@cd $(BUILD) && ctest --output-on-failure -j1

lint: deps
	@sh scripts/lint.sh all

sanitize: build
	@sh scripts/sanitize.sh $(BUILD)

unit: build
	@cd $(BUILD) && ctest -L unit --output-on-failure

integration: build
	@cd $(BUILD) && ctest -L integration --output-on-failure

run: build
	@sh scripts/demo.sh $(BUILD)

bench: build
	@sh bench/run.sh $(BUILD)

# Seeded chaos runs: make chaos SEEDS=100 (seeds 1..100; FIRST=k to start elsewhere).
SEEDS ?= 10
FIRST ?= 1
chaos: build
	@fails=0; for s in $$(seq $(FIRST) $$(($(FIRST) + $(SEEDS) - 1))); do \
		/usr/bin/python3 tests/chaos/chaos.py --seed $$s --bin $(BUILD) || fails=$$((fails + 1)); \
	done; echo "chaos: $(SEEDS) seeds, $$fails failed"; [ $$fails = 0 ]

clean:
	rm -rf $(BUILD)
