# The two commands of the README: `make demo` and `make test`. Both set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
UV_VERSION := 0.13.9

SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# The connection-form test in a real browser: 1 runs it (and installs Debian's chromium),
# 0 leaves it out (`make test ASP_BROWSER_TESTS=0`).
ASP_BROWSER_TESTS ?= 1
export ASP_BROWSER_TESTS
# The failover tests on a real PostgreSQL (installed with apt when missing): 1 runs them and
# makes a missing PostgreSQL a failure, 0 leaves them out (`make test ASP_POSTGRES_TESTS=0`).
ASP_POSTGRES_TESTS ?= 1
export ASP_POSTGRES_TESTS

.PHONY: setup setup-dagster chromium test lint typecheck typecheck-dagster synchro synchro-check \
	unit unit-dagster suites system demo demo-dagster bench clean

# The Dagster package has an environment of its own, with no Airflow: the dagster family pins
# one exact dagster whose protobuf Airflow's constraints exclude (constraints-dagster.txt).
DVENV  ?= .venv-dagster
DBIN   := $(DVENV)/bin
DSTAMP := $(DVENV)/.installed-stamp

# The three distributions of this repository, editable: the core (core/), the provider (with
# its test extra) and the emulator (emulator/). Bytecode is compiled at install time: where PYTHONDONTWRITEBYTECODE
# is set, a venv without .pyc files makes every Airflow command start about 3x slower.
$(STAMP): pyproject.toml core/pyproject.toml emulator/pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -c constraints.txt \
	  -e ./core -e ./emulator -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

$(DSTAMP): core/pyproject.toml emulator/pyproject.toml dagster-asp/pyproject.toml constraints-dagster.txt
	$(PYTHON) -m venv $(DVENV)
	$(DBIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(DBIN)/uv pip install --quiet --compile-bytecode --python $(DBIN)/python \
	  -c constraints-dagster.txt -e ./core -e ./emulator -e './dagster-asp[test]'
	touch $(DSTAMP)

setup-dagster: $(DSTAMP)

# The connection-form test drives Debian's chromium headless (Playwright never downloads one).
chromium:
	@[ "$(ASP_BROWSER_TESTS)" = 0 ] || command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser test"; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

# The Dagster package is type-checked where Dagster is installed.
typecheck-dagster: setup-dagster
	$(DBIN)/mypy --config-file dagster-asp/pyproject.toml

# The synchronous code is generated from the asynchronous source (tools/synchro.py).
synchro: setup
	$(BIN)/python tools/synchro.py

synchro-check: setup
	$(BIN)/python tools/synchro.py --check

unit: setup chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

unit-dagster: setup-dagster chromium
	$(DBIN)/python -m pytest -c dagster-asp/pyproject.toml dagster-asp/tests $(PYTEST_ARGS)

# The two suites are independent: run them side by side, each one's output printed whole.
suites: setup setup-dagster chromium
	$(MAKE) --no-print-directory -j2 --output-sync=target unit unit-dagster

test: lint typecheck typecheck-dagster synchro-check suites

# Only the deployments on PostgreSQL (two triggerers, a triggerer killed mid-wait); `make test`
# runs them too.
system: setup
	$(BIN)/python -m pytest -m system $(PYTEST_ARGS)

demo: setup
	$(BIN)/python demo/demo.py

# The Dagster example against the embedded emulator: materialize, tick the sensors, a failure.
demo-dagster: setup-dagster
	$(DBIN)/python demo/dagster_demo.py

# Figures, not pass/fail: every script under benchmarks/.
bench: setup setup-dagster
	@for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done
	@for script in dagster-asp/benchmarks/*.py; do echo "== $$script"; \
	  $(DBIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(DVENV) .mypy_cache .ruff_cache .pytest_cache
