# The two commands the README names: `make demo` runs the product, `make test` runs the test suite.
# `make production` is the production start (README, Production).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo production test install lint format

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt

demo: install
	bash scripts/demo.sh

# Runtime requirements only: the test tools have no business on a production host.
production: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	bash scripts/production.sh

test: install
	bash scripts/test.sh

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format:
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
