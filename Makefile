# Two commands do all the set-up on a fresh clone: `make demo` and `make test`.
# Each creates the virtualenv (.venv) itself when it is missing or stale.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers: most of the suite waits on timelines and servers, so four
# workers beat the two CPUs. Tests sharing fixed ports or one expensive run name
# an xdist_group (one worker, one after another; inert with pytest 9.2 and
# xdist 3.8, see benchmarks/results/test-suite.md); tests marked `serial` measure
# what the machine can do (capacity searches, the shipped experiments' own
# hypotheses) and run alone afterwards. `PYTEST_WORKERS=` runs all in one process.
PYTEST_WORKERS ?= -n 4 --dist loadgroup

.PHONY: demo test lint format bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group dev
	touch $(STAMP)

## demo: the main job, the db-latency experiment (about a minute)
demo: $(STAMP)
	$(BIN)/chaoskit run experiments/db-latency.toml

## test: lint, types, import contracts, then the whole test suite
test: $(STAMP)
	$(BIN)/ruff format --check chaoskit tests benchmarks fixtures _chaoskit_pytestplugin.py
	$(BIN)/ruff check chaoskit tests benchmarks fixtures _chaoskit_pytestplugin.py
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_WORKERS) -m "not serial"
	$(BIN)/pytest -m serial

format: $(STAMP)
	$(BIN)/ruff format chaoskit tests benchmarks fixtures _chaoskit_pytestplugin.py
	$(BIN)/ruff check --fix chaoskit tests benchmarks fixtures _chaoskit_pytestplugin.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks.proxy

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
