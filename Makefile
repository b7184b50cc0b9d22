# Two commands do everything on a fresh machine:  make run  and  make test
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
FLASK := $(VENV)/bin/flask --app directory
HOST ?= 127.0.0.1
PORT ?= 5000
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/test
export TEST_DATABASE_URL

.PHONY: run test test-sqlite test-postgres test-browser screenshots install install-test lint clean fuzz admin
.PHONY: translations translations-extract translations-update

# make run needs only the app's packages; make test adds the test extras (Playwright,
# schemathesis, hypothesis...). Each stamp is redone when pyproject.toml changes.
$(VENV)/.installed-app: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@ $(VENV)/.installed-app

install: $(VENV)/.installed-app
install-test: $(VENV)/.installed-test

## make run: install, migrate the SQLite database, load the starter data if empty, serve.
SECRET := @test -s instance/secret_key || $(PY) -c "from directory.config import write_secret_file; write_secret_file('instance')"

run: install translations
	$(SECRET)
	$(FLASK) db upgrade
	$(FLASK) seed --if-empty
	@echo ""
	@echo "  Oncology center directory: http://$(HOST):$(PORT)"
	@echo ""
	SESSION_COOKIE_SECURE=0 $(FLASK) run --host $(HOST) --port $(PORT)

## make admin EMAIL=you@example.org [ROLE=editor]: create (or update) an account; the
## password is prompted (or read from $$ADMIN_PASSWORD).
ROLE ?= admin
admin: install
	@test -n "$(EMAIL)" || { echo "usage: make admin EMAIL=you@example.org [ROLE=admin|editor]"; exit 2; }
	$(SECRET)
	$(FLASK) db upgrade
	$(FLASK) create-admin "$(EMAIL)" --role "$(ROLE)"

## make test: the whole suite on SQLite, then on PostgreSQL (TEST_DATABASE_URL).
test: test-sqlite test-postgres

test-sqlite: install-test translations
	@echo "== tests on SQLite =="
	env -u TEST_DATABASE_URL $(PY) -m pytest

test-postgres: install-test translations
	@if $(PY) -c "import os, psycopg; psycopg.connect(os.environ['TEST_DATABASE_URL'].replace('postgresql+psycopg://', 'postgresql://'), connect_timeout=3).close()" 2>/dev/null; then \
	  echo "== tests on PostgreSQL ($(TEST_DATABASE_URL)) =="; \
	  $(PY) -m pytest; \
	elif [ "$$CI" = "true" ]; then \
	  echo "PostgreSQL at $(TEST_DATABASE_URL) is not reachable, and CI=true: failing."; exit 1; \
	else \
	  echo ""; echo "*** SKIPPED: PostgreSQL pass (no server at $(TEST_DATABASE_URL)). Set TEST_DATABASE_URL to run it. ***"; echo ""; \
	fi

## Translations (README "Languages"): extract the marked strings into translations/messages.pot,
## merge them into every translations/<lang>/LC_MESSAGES/messages.po, compile the .mo files
## (not committed: make run, make test and the app's start compile a .po newer than its .mo).
PYBABEL := $(VENV)/bin/pybabel
translations-extract: install
	$(PYBABEL) extract -F translations/babel.cfg -k _l -k N_ --no-location --sort-output \
	  --project oncology-directory -o translations/messages.pot .

translations-update: translations-extract
	$(PYBABEL) update -i translations/messages.pot -d translations --no-wrap --no-fuzzy-matching

translations: install
	$(PYBABEL) compile -d translations --statistics

## make fuzz: the long fuzzing profile (hypothesis, 8 properties x 2,500 examples = 20,000 cases:
## CSV bytes, HSDS zips, Excel workbooks, the admin preview of zips and workbooks, query strings).
fuzz: install-test
	env -u TEST_DATABASE_URL HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest tests/test_fuzz.py -q -p no:randomly

## make test-browser: only the Chromium tests (tests/browser; needs /usr/bin/chromium).
test-browser: install-test
	env -u TEST_DATABASE_URL $(PY) -m pytest tests/browser

## make screenshots: serve the starter data on a spare port and shoot docs/screenshots/.
SHOT_PORT ?= 5099
screenshots: install
	$(SECRET)
	$(FLASK) db upgrade
	$(FLASK) seed --if-empty
	SESSION_COOKIE_SECURE=0 $(FLASK) run --host 127.0.0.1 --port $(SHOT_PORT) & pid=$$!; \
	  for i in $$(seq 1 50); do curl -fs http://127.0.0.1:$(SHOT_PORT)/ >/dev/null && break; sleep 0.2; done; \
	  $(PY) tests/browser/screenshots.py http://127.0.0.1:$(SHOT_PORT) docs/screenshots; status=$$?; \
	  kill $$pid; exit $$status

lint: install-test
	$(PY) -m ruff check directory tests

clean:
	rm -rf $(VENV) instance/directory.sqlite* .pytest_cache

## make bench: the quick benchmark profile (about 2 minutes); make bench FULL=1: the big runs
## (100k-row import, 1M centers on PostgreSQL at BENCH_PG_URL). Results: bench/RESULTS.md.
.PHONY: bench
bench: install
	$(PY) -m pip install --quiet -e '.[bench]'
	$(SECRET)
	$(PY) bench/run.py --profile $(if $(FULL),full,quick)

## make load: gunicorn (4 workers, directory.gunicorn_conf) on SQLite and PostgreSQL, locust 50 users for 60 s on
## 127.0.0.1 while a 200,000-row import uploaded through the web writes. Results: bench/results/load.md.
.PHONY: load faults
load: install
	$(PY) -m pip install --quiet -e '.[bench]'
	$(SECRET)
	$(FLASK) db upgrade
	$(FLASK) seed --if-empty
	$(PY) bench/load.py --seconds 60 --users 50

## make faults: stop and start the local PostgreSQL cluster while the app serves (needs
## pg_ctlcluster; never run it against a shared server). Results: bench/results/faults.md.
faults: install
	$(PY) -m pip install --quiet -e '.[bench]'
	$(PY) bench/pg_restart.py
