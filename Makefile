# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?= 8000

.PHONY: test-deep run examples test lint typecheck unit pg browser bench clean screenshots

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

## run: migrate the embedded SQLite register, load the demo and serve on 127.0.0.1:8000
run: $(STAMP)
	$(BIN)/hukou db upgrade
	$(BIN)/hukou demo load
	$(BIN)/hukou synth --people 5000 --seed 2026 --out population || echo "hukou synth failed: the analyst page shows the population figures as unavailable"
	$(BIN)/hukou batch --in population --out population/results || echo "hukou batch failed: the analyst page shows 'eligible, not yet settled' as unavailable"
	$(BIN)/hukou serve --host 127.0.0.1 --port $(PORT)

## examples: decide every worked example and print the decisions (zh-CN, then English)
examples: $(STAMP)
	$(BIN)/hukou check examples/*.json --lang zh
	$(BIN)/hukou check examples/01-owner-family.json --lang en

## test: lint, type-check and the whole test-suite (SQLite and the local PostgreSQL,
## the web pages in Debian's Chromium)
test: lint typecheck pg browser unit

## browser: Debian's Chromium (the web pages' browser tests) and the Noto CJK fonts
## (pages and the PDF decision notices), installed with apt when missing
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -q "Noto Serif CJK"; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium fonts-noto-cjk; \
	fi

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

## unit: the tests in two processes (pytest-xdist, a file to a process), then the browser
## tests in one (a Playwright session stays in the process that started it); a test still
## running after 15 minutes fails with every thread's stack instead of hanging the run
unit: $(STAMP)
	$(BIN)/pytest -n 2 --dist loadfile -m "not browser" --timeout 900
	$(BIN)/pytest -m browser --timeout 900

## test-deep: the properties with five times as many generated examples (slow; not CI)
test-deep: $(STAMP) pg browser
	HUKOU_TEST_DEPTH=5 $(BIN)/pytest tests/test_exact.py tests/test_properties.py tests/test_engine_paths.py tests/test_materials.py tests/analytics

## screenshots: the browser tests, writing their screenshots to docs/screenshots (the
## README's); make test writes them to a scratch folder and leaves the tree clean
screenshots: $(STAMP) browser
	HUKOU_SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/pytest tests/web/test_browser.py

bench: $(STAMP)
	$(BIN)/python bench/decide_one.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis hukou.db hukou.db-wal hukou.db-shm
