# `make demo` and `make test` are the whole set-up: each creates or refreshes .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch; override for a CUDA machine, e.g. `make TORCH_SPEC=torch test`.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench clean constraints

# constraints.txt holds the other packages' versions (the measured figures' environment)
$(STAMP): pyproject.toml Makefile constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

# after a change of pyproject.toml's dependencies: pin what the venv now holds
constraints: $(STAMP)
	sed -n '/^#/p' constraints.txt > constraints.new
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^torch==\|^nvidia\|^triton' >> constraints.new
	mv constraints.new constraints.txt

# The datasets of the project's machines, read where a user's download would be read.
SHARED_DATA := $(abspath ../shared/data)
export RNNKIT_DATA ?= $(if $(wildcard $(SHARED_DATA)/aclImdb_v1.tar.gz),$(SHARED_DATA),)

demo: $(STAMP)
	$(BIN)/rnnkit tour
	$(BIN)/rnnkit sentiment demo --out runs/demo --restart

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python benchmarks/lstm_masking_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
