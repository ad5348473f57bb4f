# Two commands matter: `make run` and `make test`. Everything installs into .venv.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Ports of the web interface and the simulated grid meter; KSEM_SIMULATOR=off leaves the
# simulated plant out (a real installation). ksem_site/supervisor.py reads them.
export KSEM_WEB_PORT ?= 8000
export KSEM_METER_PORT ?= 15020
# The simulated inverters answer on this + 1, + 2 (the bootstrap gives the first plant those).
export KSEM_INVERTER_PORT_BASE ?= $(KSEM_METER_PORT)
export KSEM_SIMULATOR ?= on
# The simulated control box (grid operator, EEBus) answers SHIP on this port, its scripting HTTP on + 1.
export KSEM_CONTROLBOX_PORT ?= 4712
# The simulated RS485 line of the wallboxes (ENECTORs, Modbus RTU over TCP as behind a serial
# server) answers on this + 1: 15030 by default. As in the manual's wallbox examples the boxes sit
# on RS485 B (held by the wallboxes, disabled for Modbus); RS485 A keeps its factory preset
# (PIKO IQ / PLENTICORE slave, address 1, 38400 8N2) for the inverter that reads the grid meter.
export KSEM_WALLBOX_PORT_BASE ?= $(shell echo $$(( $(KSEM_INVERTER_PORT_BASE) + 9 )))
ifneq ($(filter on true 1 yes,$(KSEM_SIMULATOR)),)
export KSEM_RS485_B ?= socket://127.0.0.1:$(shell echo $$(( $(KSEM_WALLBOX_PORT_BASE) + 1 )))
endif

.PHONY: run test lint format bench faults install browser mosquitto clean

$(STAMP): requirements.txt requirements-dev.txt
	test -d $(VENV) || python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

# With the simulator the first plant gets the simulated plant's devices (bootstrap_simulated,
# replay/); without it (a real installation) plain bootstrap, which knows nothing of the simulator.
SIMULATED_DEVICES := --inverters-from simulator/scenarios/home.json --inverter-port-base $(KSEM_INVERTER_PORT_BASE) --wallboxes-from simulator/scenarios/home.json --wallbox-port-base $(KSEM_WALLBOX_PORT_BASE) --controlbox-dir $(or $(KSEM_VAR_DIR),var)/eebus/controlbox --controlbox-port $(KSEM_CONTROLBOX_PORT)
BOOTSTRAP = $(if $(filter off false 0 no,$(shell echo '$(KSEM_SIMULATOR)' | tr A-Z a-z)),bootstrap,bootstrap_simulated $(SIMULATED_DEVICES))

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py $(BOOTSTRAP) --meter-port $(KSEM_METER_PORT) --web-url http://127.0.0.1:$(KSEM_WEB_PORT)
	@echo "Starting the stack on http://127.0.0.1:$(KSEM_WEB_PORT) under supervisord (Ctrl-C stops everything)"
	$(PY) -m ksem_site.supervisor || test $$? -eq 130

# Headless Chromium from Debian for the browser tests.
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

# Debian's Mosquitto for the MQTT tests (integrations/tests start their own brokers with it).
mosquitto:
	@test -x /usr/sbin/mosquitto || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto >/dev/null; }

# The suite on pytest-xdist workers, a file's tests on one worker (its module fixtures start once).
# Three on 2 cores: much of the suite waits on sockets, subprocesses and browsers.
TEST_WORKERS ?= 3

test: install browser mosquitto lint
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	$(PY) -m bench.run

# The long fault suite: flapping for a minute, and the machine's own PostgreSQL/Redis
# restarted where DATABASE_URL/REDIS_URL point at them. Never part of `make test`.
faults: install
	KSEM_FAULTS=long $(PY) -m pytest tests/test_faults.py tests/test_fleet_faults.py -v

clean:
	rm -rf var/test .pytest_cache .mypy_cache .ruff_cache
