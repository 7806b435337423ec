# `make demo` and `make test` work on a fresh machine with Python 3.11+: each sets up
# .venv (once, and again when pyproject.toml changes) and then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
AS_OF  := 2026-11-01

.PHONY: setup demo test lint conformance bench samples clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,spark]'
	touch $(STAMP)

setup: $(STAMP)

## The main job on the bundled plan and customers: check the plan, decide everyone,
## show the mix, explain one decision, replay the bundled events' moments of truth, and
## measure results on synthetic outcomes with known effects, measure the customer
## journeys (one of which is a planted watermelon) and fire their stalled runs as moments.
demo: $(STAMP)
	@mkdir -p out
	$(BIN)/treatment validate
	$(BIN)/treatment lint
	$(BIN)/treatment decide --profiles examples/customers.jsonl --as-of $(AS_OF) \
		--output out/decisions.jsonl --stats
	@echo "decisions written to out/decisions.jsonl"
	$(BIN)/treatment explain --profiles examples/customers.jsonl --customer c000000 --as-of $(AS_OF)
	$(BIN)/treatment events replay examples/events.jsonl --profiles examples/customers.jsonl \
		--until $(AS_OF) --output out/moments.jsonl
	@echo "fired moments and their decisions written to out/moments.jsonl"
	$(BIN)/treatment simulate --sample 20000 --as-of $(AS_OF) -q --output out/measured-decisions.parquet
	$(BIN)/treatment sample --outcomes out/measured-decisions.parquet --truth out/truth.json \
		--output out/outcomes.jsonl
	@echo "outcome events with known true effects written to out/outcomes.jsonl (the truth: out/truth.json)"
	$(BIN)/treatment measure --decisions out/measured-decisions.parquet --events out/outcomes.jsonl \
		--as-of 2027-03-01
	$(BIN)/treatment journeys --events examples/journey-events.jsonl --as-of $(AS_OF)
	$(BIN)/treatment events replay examples/journey-events.jsonl --profiles examples/customers.jsonl \
		--until $(AS_OF) --output out/stalled-journeys.jsonl
	@echo "stalled installation runs (a journey step's on_stall) and their decisions written to out/stalled-journeys.jsonl"

## The whole suite: unit, property, conformance and CLI tests.
# On TEST_WORKERS processes (pytest-xdist), a test file to a worker, so that a file's
# fixtures (a Spark session, a served plan) are built once; many tests wait on servers
# they start, so one worker more than cores keeps the cores busy.
# pytest's exit 5 means it collected nothing (say, a filter matched no test): not a failure.
# The slowest tests are listed at the end: CI's time is spent there, so cuts start there.
# The engine's modules are compiled to bytecode first: where PYTHONDONTWRITEBYTECODE is
# set (CI machines), every `treatment` process the tests start (hundreds) would otherwise
# compile them from source again, about 0.2 s of CPU each.
TEST_WORKERS ?= 3
test: $(STAMP)
	@$(BIN)/python -m compileall -q treatment_engine >/dev/null
	@$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=30 $(PYTEST_ARGS); code=$$?; \
	if [ $$code -eq 5 ]; then echo "pytest collected no tests (exit 5)"; exit 0; fi; exit $$code

lint: $(STAMP)
	$(BIN)/ruff check treatment_engine tests benchmarks cli.py setup.py
	$(BIN)/mypy

## The shared conformance checker against the installed command. It sits beside the
## repository (CONFORMANCE=path/to/check.py names another); a clone without it skips,
## saying so, before setting anything up (the vendored cases run in `make test`).
CONFORMANCE ?= ../shared/conformance/check.py
conformance:
	@if [ -f "$(CONFORMANCE)" ]; then \
		$(MAKE) --no-print-directory setup && $(PYTHON) "$(CONFORMANCE)" --cmd $(BIN)/treatment; \
	else \
		echo "conformance skipped: $(CONFORMANCE) not found (the shared checker sits beside this repository; CONFORMANCE=path/to/check.py names it); tests/conformance/ runs the vendored cases in make test"; \
	fi

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/bench_decide.py

## Regenerate the bundled sample customers (deterministic).
samples: $(STAMP)
	$(BIN)/treatment sample --n 1000 --seed 7 --as-of $(AS_OF) -o examples/customers.jsonl
	$(BIN)/treatment sample --n 1000 --seed 7 --as-of $(AS_OF) -o examples/customers.csv
	$(BIN)/treatment events sample --n 2000 --customers 1000 --seed 7 --until $(AS_OF) -o examples/events.jsonl
	$(BIN)/treatment events sample --journeys --customers 1000 --seed 7 --until $(AS_OF) -o examples/journey-events.jsonl

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache .hypothesis
