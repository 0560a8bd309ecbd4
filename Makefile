# The two commands in README.md:
#   make quickstart   set up + run the main job end to end
#   make test         set up + run the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup quickstart test test-slow lint bench

$(BIN)/simtransfer: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev,mujoco,games,ray,export]'
	touch $@

setup: $(BIN)/simtransfer

quickstart: setup
	WANDB_MODE=$${WANDB_MODE:-offline} $(BIN)/simtransfer run experiments/configs/quickstart.yaml --workers 2 --out results/quickstart

test: setup
	WANDB_MODE=disabled $(BIN)/python -m pytest -q

test-slow: setup
	WANDB_MODE=disabled $(BIN)/python -m pytest -q -m slow

lint: setup
	$(BIN)/ruff check .
	$(BIN)/lint-imports  # layers point one way: [tool.importlinter] in pyproject.toml
