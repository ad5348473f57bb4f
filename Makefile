# Two commands matter: `make run` and `make test`. Everything installs into .venv.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# With REDIS_URL set the stack uses that Redis; otherwise it starts the embedded one.
PROCESSES := $(if $(REDIS_URL),simulator web worker beat,redis simulator web worker beat)
# Ports of the web interface and the simulated grid meter (the Procfile reads them too).
export KSEM_WEB_PORT ?= 8000
export KSEM_METER_PORT ?= 15020

.PHONY: run test lint format bench install browser clean

$(STAMP): requirements.txt requirements-dev.txt
	test -d $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py bootstrap --meter-port $(KSEM_METER_PORT) --web-url http://127.0.0.1:$(KSEM_WEB_PORT)
	@echo "Starting the stack on http://127.0.0.1:$(KSEM_WEB_PORT) (Ctrl-C stops everything)"
	$(VENV)/bin/honcho start $(PROCESSES) 2>&1 || true

# Headless Chromium from Debian for the browser tests.
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

test: install browser lint
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) -m bench.run

clean:
	rm -rf var/test .pytest_cache .mypy_cache .ruff_cache
