# The two commands a fresh machine needs:
#   make run    a local cluster demo (6 real valkey-server instances, 3 masters + 3 replicas, scaled to 8)
#   make test   the whole test suite (unit + integration against real servers)
BUILD ?= build
JOBS ?= 2
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DAUTOSHARD_WERROR=ON
endif

.PHONY: all deps build test sanitize unit integration run bench clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# The sanitizer stage runs first so that ctest's summary is the last word.
test: build
	@sh scripts/sanitize.sh $(BUILD)
	@cd $(BUILD) && ctest --output-on-failure -j1

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

clean:
	rm -rf $(BUILD)
