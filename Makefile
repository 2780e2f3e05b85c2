# Two commands on a fresh machine: `make run` and `make test`. Each creates .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# Tests run with the optional fast reader, matplotlib (plot --output) and Dask installed; they force
# the numpy reader where they compare both.
$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,fast,plot,dask]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/losscli mse 2,3,4,5 4,5,6,7 --format table

test: $(STAMP_TEST)
	$(BIN)/python -m pytest

# Bytecode is compiled first, as `pip install` does for a real install: start-up is then what users get.
bench: $(STAMP_TEST)
	$(BIN)/python -m compileall -q losscli
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

# The picture the README shows: losses and their gradients against the error.
docs: $(STAMP_TEST)
	mkdir -p docs
	$(BIN)/losscli plot l1 mse "huber --delta 0.5" smooth-l1 --grad --range -3:3 --size 900x600 --output docs/losses.png

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
