# stepgate: build, demo, tests, conformance and benchmarks.
SWIFT ?= swift
CONFORMANCE ?= ../shared/conformance/asl
DEBUG_BIN := .build/debug/stepgate
RELEASE_BIN := .build/release/stepgate

.PHONY: deps build release demo test unit-tests conformance bench clean

deps:
	@scripts/ensure-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

# The main job on the embedded default: validate and run every bundled example, showing each history.
demo: release
	@scripts/demo.sh $(RELEASE_BIN)

# Unit and integration tests, then the AWS-recorded ASL conformance corpus. Tests run one at a
# time: many drive real processes, pushes and servers, and timing assertions (timeouts, process
# group kills) must not compete with them for the two cores.
test: deps
	$(SWIFT) build
	$(SWIFT) test --no-parallel
	@$(MAKE) --no-print-directory conformance BIN=$(DEBUG_BIN)

BIN ?= $(RELEASE_BIN)
conformance:
	@scripts/conformance.sh $(BIN) $(CONFORMANCE)

bench: release
	$(SWIFT) build -c release --product stepgate-bench
	python3 scripts/bench.py

clean:
	rm -rf .build
