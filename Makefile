# Two entry points: `make demo` (the main job) and `make test`. Each creates .venv and installs what it needs.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test typecheck lint bench install clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned, so no resolver ever reaches for a CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,spark]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/academy demo
	OMP_NUM_THREADS=1 $(VENV)/bin/academy run
	OMP_NUM_THREADS=1 $(VENV)/bin/academy demo-loop

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	# two workers (CI has two cores); whole files go to one worker, so a module's fixtures are built once
	OMP_NUM_THREADS=1 $(VENV)/bin/pytest -q -n 2 --dist loadfile

# the annotations, as `make test` checks them ([tool.mypy] in pyproject.toml; about 15 s on two cores)
typecheck: $(STAMP)
	$(VENV)/bin/mypy

bench: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m benchmarks

clean:
	rm -rf $(VENV) academy-data .pytest_cache .ruff_cache .mypy_cache
