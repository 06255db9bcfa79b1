# The README's commands: `make run` (install, then start the app), `make test` (the everyday
# tests) and `make test-all` (every test: what CI runs).
VENV ?= .venv
PY := $(VENV)/bin/python
# Keeps pip on the local CPU torch wheel and the sound Qt binding, in every pip call,
# build environments included.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt

.PHONY: install run test test-all

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/layerloom $(ARGS)

# The everyday tier (< 10 min on a 2-core machine): all but the tests marked slow.
test: install
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS)

# Every test, the slow ones too (CI runs this).
test-all: install
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q $(PYTEST_ARGS)
