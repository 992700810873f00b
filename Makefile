# `make demo`, `make test` (the everyday suite) and `make test-all` (everything, as CI runs it).
# Each creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: demo test test-all lint typecheck imports lengths lazy unit unit-all bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch first, so nothing below pulls a CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Real model servers of other kinds for the protocol and upstream tests (KServe's ModelServer,
# MLflow's scoring server). Their pins (pandas, protobuf) clash with ours, so they get a venv
# of their own, with our scikit-learn and skops versions so the model files tests write load there.
UPSTREAM := .venv-upstream
$(UPSTREAM)/.installed: $(STAMP)
	test -x $(UPSTREAM)/bin/python || $(PYTHON) -m venv $(UPSTREAM)
	$(UPSTREAM)/bin/python -m pip install --quiet --upgrade pip
	$(UPSTREAM)/bin/python -m pip install --quiet "kserve==0.21.0" "mlflow-skinny==3.18.0" \
		"scikit-learn==$$($(BIN)/python -c 'import sklearn; print(sklearn.__version__)')" \
		"skops==$$($(BIN)/python -c 'import skops; print(skops.__version__)')"
	touch $@

demo: $(STAMP)
	$(BIN)/python -m modelsteal.campaigns.demo

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy

# packages import only downwards (the layers contract in pyproject.toml)
imports: $(STAMP)
	$(BIN)/lint-imports --no-cache

# no function in src/ over 60 lines (tools/long_functions.allow lists the older ones)
lengths: $(STAMP)
	$(BIN)/python tools/long_functions.py

# an import inside a function says why (tools/lazy_imports.allow counts the older ones)
lazy: $(STAMP)
	$(BIN)/python tools/lazy_imports.py

# the fast tests, on both cores: everything not marked e2e
unit: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not e2e"

# every test: the e2e ones bring up real servers (KServe, MLflow, Redis), the browser, Ray,
# and run README's blocks as written
unit-all: $(STAMP) $(UPSTREAM)/.installed
	$(BIN)/python -m pytest -q -n 2

test: lint typecheck imports lengths lazy unit

test-all: lint typecheck imports lengths lazy unit-all

$(VENV)/.bench-installed: $(STAMP)
	$(BIN)/pip install -e ".[bench]"
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python bench/equation_solving.py
	$(BIN)/python bench/label_only.py
	$(BIN)/python bench/path_finding.py
	$(BIN)/python bench/learning.py

clean:
	rm -rf $(VENV) $(UPSTREAM) build .mypy_cache .pytest_cache .ruff_cache
