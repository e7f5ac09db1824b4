# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000

.PHONY: run examples test lint typecheck unit pg bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: migrate the embedded SQLite register, load the demo and serve on 127.0.0.1:8000
run: $(STAMP)
	$(BIN)/hukou db upgrade
	$(BIN)/hukou demo load
	$(BIN)/hukou serve --host 127.0.0.1 --port $(PORT)

## examples: decide every worked example and print the decisions (zh-CN, then English)
examples: $(STAMP)
	$(BIN)/hukou check examples/*.json --lang zh
	$(BIN)/hukou check examples/01-owner-family.json --lang en

## test: lint, type-check and the whole test-suite (SQLite and the local PostgreSQL)
test: lint typecheck pg unit

## pg: start the local PostgreSQL (127.0.0.1:5432) when it is not running
pg:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@for i in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; \
	  echo "PostgreSQL did not start on 127.0.0.1:5432"; exit 1

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/decide_one.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis hukou.db hukou.db-wal hukou.db-shm
