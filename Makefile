# OneTrip: the README's commands. Everything installs into .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# make test-postgres: the machine's PostgreSQL (trust auth; each test creates its own
# database) and Redis, on a Redis database number of its own because the suite flushes it.
TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/9

.PHONY: run test test-postgres bench load lint format i18n clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	$(BIN)/pip install -q --no-deps 'face_recognition==1.3.0'
	touch $(STAMP)

run: $(STAMP)
	$(if $(ISSUER),ONETRIP_ISSUER='$(ISSUER)' )$(BIN)/onetrip serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/pytest $(PYTEST_ARGS)

test-postgres: $(STAMP)
	ONETRIP_TEST_DATABASE_URL='$(TEST_DATABASE_URL)' ONETRIP_TEST_REDIS_URL='$(TEST_REDIS_URL)' \
		$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m bench

# Five minutes of mixed traffic (logins, refreshes, userinfo, OCSP, verifications); SECONDS=60 for less.
load: $(STAMP)
	$(BIN)/python -m bench.load --seconds $(or $(SECONDS),300)

# The texts of the code and templates into every package's translations/*/messages.po
# (then translate the new empty msgstr entries); the .mo files compile at start.
i18n: $(STAMP)
	$(BIN)/python -m config.catalogues

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) var .pytest_cache
