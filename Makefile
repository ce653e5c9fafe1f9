# stepgate: build, demo, tests, conformance and benchmarks.
SWIFT ?= swift
CONFORMANCE ?= ../shared/conformance/asl
REAL_WORLD ?= ../shared/conformance/real-world
DEBUG_BIN := .build/debug/stepgate
RELEASE_BIN := .build/release/stepgate
# Release binaries carry the Swift runtime and Foundation inside (no 50 shared libraries to load)
# and are position-dependent (no relocations to apply at start): a hook starts in a few ms.
RELEASE_FLAGS := --static-swift-stdlib -Xlinker -no-pie

.PHONY: deps build release demo test unit-tests conformance real-world bench soak clean phorge-check

deps:
	@scripts/ensure-deps.sh

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release $(RELEASE_FLAGS)

# The main job on the embedded default: validate and run every bundled example, showing each history.
demo: release
	@scripts/demo.sh $(RELEASE_BIN)

# Unit and integration tests, then the AWS-recorded ASL conformance corpus and the real-world
# definitions. Tests run one at a time: many drive real processes, pushes and servers, and timing
# assertions (timeouts, process group kills) must not compete with them for the two cores.
# scripts/with-test-servers.sh starts a throwaway PostgreSQL 15 and a moto server on loopback for them
# (installing postgresql and moto[server] when missing) and stops both afterwards.
test: deps
	$(SWIFT) build
	scripts/with-test-servers.sh $(SWIFT) test --no-parallel
	@$(MAKE) --no-print-directory conformance BIN=$(DEBUG_BIN)
	@$(MAKE) --no-print-directory real-world BIN=$(DEBUG_BIN)

BIN ?= $(RELEASE_BIN)
conformance:
	@scripts/conformance.sh $(BIN) $(CONFORMANCE)

# Published definitions through ../shared/conformance/real-world/check.sh: no valid one rejected but
# for a named unsubstituted placeholder, no invalid one accepted (explained label errors aside).
real-world:
	@scripts/real-world.sh $(BIN) $(REAL_WORLD) scripts/real-world-exceptions.tsv

bench: release
	$(SWIFT) build -c release $(RELEASE_FLAGS) --product stepgate-bench
	python3 scripts/bench.py
	python3 scripts/bench_bot.py --binary $(RELEASE_BIN)
	python3 scripts/bench_hooks.py --bin .build/release
	scripts/with-test-servers.sh python3 scripts/bench_replicas.py --binary $(RELEASE_BIN)
	scripts/with-test-servers.sh python3 scripts/bench_aws.py
	python3 scripts/soak_bot.py --binary $(RELEASE_BIN)

# The bot's fault-and-crash soak at full size (release build): 60 changes over 3 minutes, about 20% of the bot's
# requests faulted at random, 5 SIGKILLs, 2 of them while the server holds a review POST and applies it later.
# Fails unless every voted patch set is reported exactly once. `make test` runs a small one (SoakTests).
soak: release
	python3 scripts/soak_bot.py --binary $(RELEASE_BIN) $(SOAK_ARGS)

# The bot's end-to-end scenarios against a running Phorge (not part of `make test`: CI has none). See bot/phorge.md.
#   make phorge-check PHORGE_URL=http://127.0.0.1:8081 PHORGE_ADMIN_TOKEN=api-... PHORGE_AUTHOR_TOKEN=api-... \
#        PHORGE_REVIEWER_TOKEN=api-... PHORGE_BOT_TOKEN=api-... PHORGE_ROOT=/path/to/phorge [ARC=/path/to/arc]
phorge-check: build
	@python3 scripts/phorge_check.py --url "$(PHORGE_URL)" --admin-token "$(PHORGE_ADMIN_TOKEN)" \
		--author-token "$(PHORGE_AUTHOR_TOKEN)" --reviewer-token "$(PHORGE_REVIEWER_TOKEN)" \
		--bot-token "$(PHORGE_BOT_TOKEN)" --phorge-root "$(PHORGE_ROOT)" $(if $(ARC),--arc "$(ARC)") \
		--binary $(DEBUG_BIN)

clean:
	rm -rf .build
