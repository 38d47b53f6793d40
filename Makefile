# Top-level driver: `make run` and `make test` do all set-up on a fresh Debian machine.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)

.PHONY: all deps build run test test-loaded stress install clean

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

run: build
	@bash scripts/run.sh $(BUILD)

# Plain build + ASan/UBSan build, each running the whole ctest suite.
test:
	@bash scripts/deps.sh --test
	@bash scripts/test.sh

# `make test` RUNS times in a row (default 3) with a busy loop on every core.
RUNS ?= 3
test-loaded:
	@bash scripts/test-loaded.sh $(RUNS)

# Stress suite (docs/RELIABILITY.md): memory attacks (nginx in the same run for the
# comparisons), slowloris, a handshake flood, a QUIC Initial flood, SIGTERM under load and a
# soak, against `handoff serve` on loopback. Each check prints its figure and fails above
# its bound. STRESS_ARGS=--short for the short version (the ctest cases run it).
STRESS_ARGS ?=
stress: build
	@HANDOFF=$(BUILD)/handoff bash stress/run.sh $(STRESS_ARGS)

# Installs the library, headers, pkg-config and CMake files, the command and its
# man page under PREFIX (default /usr/local).
PREFIX ?= /usr/local
install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
