# Two commands: `make demo` and `make test`. Each creates .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export OMP_NUM_THREADS ?= 1
export MKL_NUM_THREADS ?= 1

.PHONY: demo test lint typecheck unit bench clean

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
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP) $(UPSTREAM)/.installed
	$(BIN)/python -m pytest -q

test: lint typecheck unit

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
