# weft: `make demo` and `make test` do all the set-up on a fresh machine.
# Every target is safe to run twice and quiet when there is nothing to do.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
SKILLS_DIR := target/skills
CARGO_QUIET := $(if $(CI),,--quiet)

.PHONY: all setup skills build demo test lint audit fmt bench fuzz clean

all: build

## setup: install what the build needs (the wasm32-wasip2 target, and the one
## crate the registry lacks for wasmtime 48.0.11: see tools/registry-gaps.sh).
setup:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2
	@./tools/registry-gaps.sh

## skills: build every skill, fixture and script runner component into target/skills/
## (Rust skills with cargo; the Python and JavaScript runners and skills with the
## pinned componentize-py and componentize-qjs that tools/setup.sh installs).
skills: setup
	@cd skills && $(CARGO) build --release $(CARGO_QUIET)
	@./skills/collect.sh
	@./runners/build.sh

## build: the CLI at target/release/weft and every skill at target/skills/.
build: skills
	@$(CARGO) build --release -p weft $(CARGO_QUIET)

## demo: the seed's job end to end: update the docs of the modules the latest
## commit of a sample Python project changed, through real MCP servers, scripts
## and a Rust validator, journaled in SQLite.
DEMO := examples/docs-update
demo: build
	@$(DEMO)/make-sample-repo.sh $(DEMO)/sample
	@echo '$$ weft run $(DEMO)/workflow.toml --input {"repo": ".../sample/repo", "commit": "HEAD", "out": ".../sample/out"}'
	@target/release/weft run $(DEMO)/workflow.toml \
		--input '{"repo": "$(CURDIR)/$(DEMO)/sample/repo", "commit": "HEAD", "out": "$(CURDIR)/$(DEMO)/sample/out"}'
	@echo
	@echo "The docs went to $(DEMO)/sample/out/:"
	@ls -1 $(DEMO)/sample/out/
	@echo
	@echo '$$ weft test $(DEMO)/workflow.toml     # the testing plan: the seed'"'"'s scenarios'
	@target/release/weft test $(DEMO)/workflow.toml 2> /dev/null

## lint: formatting and clippy, warnings denied, in both workspaces; the
## library's documentation builds without a warning (broken links included).
lint: setup
	@$(CARGO) fmt --all -- --check
	@cd skills && $(CARGO) fmt -- --check
	@$(CARGO) clippy --workspace --all-targets $(CARGO_QUIET) -- -D warnings
	@cd skills && $(CARGO) clippy --release $(CARGO_QUIET) -- -D warnings
	@RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps $(CARGO_QUIET)

## audit: the supply-chain audit (tools/audit.sh): cargo-deny, offline, checks
## both workspaces' dependencies for RustSec advisories (from ../shared/advisory-db,
## or $WEFT_ADVISORY_DB), licenses, bans and sources, as deny.toml says.
audit: setup
	@CARGO="$(CARGO)" ./tools/audit.sh

## test: lint, then unit and integration tests against freshly built skills,
## with a throwaway PostgreSQL server for the scale-out tests.
test: skills lint audit
	@./tools/with-postgres.sh $(CARGO) test --workspace $(CARGO_QUIET)

## bench: the benchmark suite; writes target/bench/results.md and results.json.
bench: build
	@./tools/with-postgres.sh $(CARGO) bench -p weft --bench weft $(CARGO_QUIET)

## fuzz: run every cargo-fuzz target in fuzz/ for FUZZ_SECONDS each (default 60),
## one after another, niced, one job; prints per target the executions and any
## crash, timeout or out-of-memory found, and fails if one was (fuzz/run.sh).
CARGO_FUZZ_VERSION := 0.13.2
FUZZ_SECONDS ?= 60
fuzz: setup
	@rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
	@cargo-fuzz --version 2> /dev/null | grep -qx 'cargo-fuzz $(CARGO_FUZZ_VERSION)' || \
		nice -n 19 $(CARGO) install --locked $(CARGO_QUIET) cargo-fuzz --version $(CARGO_FUZZ_VERSION)
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ./fuzz/run.sh

fmt:
	@$(CARGO) fmt --all
	@cd skills && $(CARGO) fmt

clean:
	@$(CARGO) clean
