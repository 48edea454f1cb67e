# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CONFIG ?= config.example.toml

.PHONY: run test lint bench bench-smoke soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# installed once, again whenever pyproject.toml changes
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	$(BIN)/fedi --config $(CONFIG) serve

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check fedi tests

# every benchmark scenario on this machine (loopback only, under 5 minutes): a table and bench/results.json.
# wrk (Debian package) loads the reads; without it the benchmark's own load client does.
bench: $(VENV)/.installed-test
	@command -v wrk >/dev/null 2>&1 || { apt-get install -y -qq wrk || { apt-get update -qq && apt-get install -y -qq wrk; }; } >/dev/null 2>&1 || echo "bench: wrk not installed; reads use the built-in load client"
	$(BIN)/python -m bench.run $(BENCH_ARGS)

bench-smoke: $(VENV)/.installed-test
	$(BIN)/python -m bench.run --smoke

# the reliability tests at full size (tests/reliability with FEDI_SOAK=1: the 5,000-activity flood, 5 kill -9 rounds…),
# by hand; loopback only, and cut after 15 minutes whatever happens. Prints the table of docs/reliability.md.
SOAK_OUT ?= $${TMPDIR:-/tmp}/fedi-soak.json
soak: $(VENV)/.installed-test
	rm -f $(SOAK_OUT)
	FEDI_SOAK=1 FEDI_RELIABILITY_OUT=$(SOAK_OUT) timeout --signal=INT --kill-after=30 900 \
		$(BIN)/python -m pytest -q tests/reliability $(PYTEST_ARGS)
	$(BIN)/python -m tests.reliability.report $(SOAK_OUT)

clean:
	rm -rf $(VENV) .pytest_cache fedi.sqlite3*
