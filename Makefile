# Blastwall: everything a fresh machine needs comes from here (Python 3.11+ and make).
#   make audit   audit this machine, write blastwall-report/blastwall-report.{html,json}
#   make test    install everything the tests need, run `make lint`, then the whole suite
PY ?= python3
UV_VERSION := 0.13.9
BOOT := .bootstrap
UV := $(BOOT)/bin/uv
VENV := .venv
export UV_SYSTEM_CERTS := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)
# compile the dependencies' bytecode at install (as pip does): with PYTHONDONTWRITEBYTECODE set, nothing would
# cache it and every `blastwall` start would compile SQLAlchemy, pydantic, typer, … from source (~1 s)
export UV_COMPILE_BYTECODE := 1

.PHONY: setup bytecode audit test test-deps bench lint clean

$(UV):
	$(PY) -m venv $(BOOT)
	$(BOOT)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras --quiet
	@touch $@

setup: $(VENV)/.synced

# This project's own modules: uv compiles site-packages but not an editable install, and with
# PYTHONDONTWRITEBYTECODE nothing would cache them either (quick when they are up to date).
bytecode: setup
	$(VENV)/bin/python -m compileall -q auditor providers reports

audit: bytecode
	$(VENV)/bin/blastwall audit --format html --format json --output-dir blastwall-report

test-deps:
	@bash scripts/install-test-deps

test: setup test-deps lint bytecode
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup -q -p no:cacheprovider

bench: setup
	$(VENV)/bin/python -m bench

# The checks that must keep passing (also run by tests/core/test_lint.py): ruff's rules from pyproject.toml
# and its formatter over the whole tree, mypy --strict on auditor, providers and reports.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy --no-incremental --strict -p auditor -p providers -p reports

clean:
	rm -rf $(VENV) $(BOOT) blastwall-report
