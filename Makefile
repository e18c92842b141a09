# Two commands do all set-up: `make repro` (the pipeline) and `make test` (the suite).
# Each creates .venv from requirements/constraints.txt when it is missing or stale.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: help venv repro test test-fast lint format docs bench clean-venv

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements/constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	PIP_CONSTRAINT=requirements/constraints.txt $(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

venv: $(BIN)/.installed ## create .venv (only when missing or when the pins changed)

repro: venv ## run the whole pipeline (dvc repro) and print the metrics
	$(BIN)/dvc repro
	@$(BIN)/gitml metrics

# One OpenMP thread per test worker: two workers on two cores, no oversubscription (results do
# not depend on the thread count; the determinism tests check it).
test: venv ## run the whole test suite, linters and type checks included
	OMP_NUM_THREADS=1 $(BIN)/pytest -n 2 --dist loadgroup --durations=15

test-fast: venv ## unit tests only
	$(BIN)/pytest tests/unit -q

lint: venv ## ruff, ruff format --check, mypy, vulture (dead code)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src
	$(BIN)/vulture

format: venv ## apply ruff's formatting and fixes
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

docs: venv ## regenerate docs/params.md, cli.md, bad-inputs.md, pr-report-example.md and the site screenshot
	$(BIN)/python -m tests.docs.generate
	$(BIN)/python -m tests.e2e.review.site_screenshot docs/images/model-site.png

bench: venv ## run the benchmarks (full size) and write bench/results.json
	$(BIN)/python -m bench

clean-venv: ## remove .venv
	rm -rf $(VENV)
