# The two commands of the README: `make run` (install, then start the app) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
# Keeps pip on the local CPU torch wheel and the sound Qt binding, in every pip call,
# build environments included.
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt

.PHONY: install run test

$(VENV)/.installed: pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/layerloom $(ARGS)

test: install
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q $(PYTEST_ARGS)
