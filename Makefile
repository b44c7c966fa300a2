# weft: `make demo` and `make test` do all the set-up on a fresh machine.
# Every target is safe to run twice and quiet when there is nothing to do.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
CARGO ?= cargo
SKILLS_DIR := target/skills
CARGO_QUIET := $(if $(CI),,--quiet)

.PHONY: all setup skills build demo test lint fmt unit integration clean

all: build

## setup: install what the build needs (the wasm32-wasip2 target).
setup:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

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

## demo: build everything, run a skill, then the example workflow (and rehearse a failure).
demo: build
	@echo '$$ weft skill run target/skills/word-count.wasm --input ...'
	@target/release/weft skill run $(SKILLS_DIR)/word-count.wasm \
		--input '{"text": "weft runs untrusted skills\nand composes them into workflows that always finish"}'
	@echo
	@echo '$$ weft skill run target/skills/busy-loop.wasm --timeout 500ms   # a hostile skill'
	@target/release/weft skill run $(SKILLS_DIR)/busy-loop.wasm --timeout 500ms || echo "(exit $$?: the sandbox stopped it)"
	@echo
	@echo '$$ weft run examples/word-budget/workflow.toml --input @examples/word-budget/input.json'
	@target/release/weft run examples/word-budget/workflow.toml --input @examples/word-budget/input.json
	@echo
	@echo '$$ weft run ... --fault style=transient:9   # rehearse the style guide being down'
	@target/release/weft run examples/word-budget/workflow.toml --input @examples/word-budget/input.json \
		--fault style=transient:9 > /dev/null

## lint: formatting and clippy, warnings denied, in both workspaces.
lint: setup
	@$(CARGO) fmt --all -- --check
	@cd skills && $(CARGO) fmt -- --check
	@$(CARGO) clippy --workspace --all-targets $(CARGO_QUIET) -- -D warnings
	@cd skills && $(CARGO) clippy --release $(CARGO_QUIET) -- -D warnings

## test: lint, then unit and integration tests against freshly built skills.
test: skills lint
	@$(CARGO) test --workspace $(CARGO_QUIET)

fmt:
	@$(CARGO) fmt --all
	@cd skills && $(CARGO) fmt

clean:
	@$(CARGO) clean
