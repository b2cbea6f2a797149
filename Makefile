# Tessera: `make demo` runs a real image through the real pipeline on this machine; `make test` runs
# every check. Both install what they need first (pinned, into .venv and node_modules).

SHELL := /bin/bash
.DEFAULT_GOAL := help

# Python 3.13 is the Lambda runtime's version; the venv uses the same interpreter so that local tests
# and Lambda run the same rasterio/GDAL wheels.
PYTHON ?= $(shell for p in $$(command -v python3.13 2>/dev/null) $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.13*/bin/python3.13 /usr/local/bin/python3.13 /usr/bin/python3.13; do [ -x "$$p" ] && "$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { echo "$$p"; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
PIP_VERSION := 26.3

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export CDK_DISABLE_VERSION_CHECK := true
export AWS_EC2_METADATA_DISABLED := true
export AWS_REGION ?= us-east-1
export AWS_DEFAULT_REGION ?= us-east-1
export JSII_NODE := $(CURDIR)/node_modules/.bin/node

DEMO_IMAGE ?=
DEMO_OUT ?= demo-output
PYTEST_ARGS ?=

.PHONY: help install layers synth lint test test-fast demo serve bench browser viewer clean

help:
	@echo "make demo    install everything and run the pipeline locally on a sample image ($(DEMO_OUT)/)"
	@echo "make test    install everything and run all checks (lint, layer build, cdk synth, cfn-lint, pytest)"
	@echo "make synth   synthesize the CloudFormation template offline into cdk.out/"
	@echo "make layers  build the Lambda layers into layers/build/ (prints their sizes)"
	@echo "make serve   run the tile server and viewer on 127.0.0.1:8000 (SERVE_IMAGE, SERVE_FEATURES)"
	@echo "make bench   run the benchmarks (bench/) and the slow scale tests"

$(BIN)/.installed: requirements.txt requirements-dev.txt requirements-lock.txt pyproject.toml
	@if [ -z "$(PYTHON)" ]; then echo "Python 3.13 is required (the Lambda runtime's version): install it, or run make PYTHON=/path/to/python3.13" >&2; exit 1; fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip==$(PIP_VERSION)
	$(BIN)/pip install --quiet -r requirements-dev.txt -c requirements-lock.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The viewer's Leaflet comes from npm (package-lock.json), vendored next to the page: no CDN.
VIEWER_STATIC := functions/tessera/api/static
VIEWER_VENDOR := $(VIEWER_STATIC)/leaflet.js $(VIEWER_STATIC)/leaflet.css
$(VIEWER_VENDOR): node_modules/.installed
	cp node_modules/leaflet/dist/$(notdir $@) $@

viewer: $(VIEWER_VENDOR)

install: $(BIN)/.installed node_modules/.installed $(VIEWER_VENDOR)

# Debian's chromium for the viewer's browser test (apt; sudo when not root).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		export DEBIAN_FRONTEND=noninteractive; \
		$$SUDO apt-get install -y --no-install-recommends chromium >/dev/null \
		|| { $$SUDO apt-get update -qq && $$SUDO apt-get install -y --no-install-recommends chromium >/dev/null; }; }
	@chromium --version 2>/dev/null

layers: install
	$(BIN)/python layers/build.py

synth: install layers
	node_modules/.bin/cdk synth --quiet --no-notices
	$(BIN)/cfn-lint --ignore-checks W3005 -- cdk.out/TesseraStack.template.json

lint: install
	$(BIN)/ruff check .

test: lint synth browser
	$(BIN)/python -m pytest -m "not slow" -n 2 $(PYTEST_ARGS)

test-fast: install
	$(BIN)/python -m pytest -m "not slow and not e2e" -n 2 $(PYTEST_ARGS)

# Without DEMO_IMAGE: a synthetic scene with ships and its ground truth (DEMO_SEED, DEMO_SIZE), run through
# the pipeline with the CFAR detector (tiles overlapping by more than the largest ship, from the scene's
# request.json), then scored against the truth: $(DEMO_OUT)/accuracy.json and quicklook.png.
DEMO_SEED ?= 7
DEMO_SIZE ?= 3000
demo: install
ifeq ($(strip $(DEMO_IMAGE)),)
	@mkdir -p $(DEMO_OUT)
	$(BIN)/tessera demo-scene $(DEMO_OUT)/scene --seed $(DEMO_SEED) --size $(DEMO_SIZE) > /dev/null
	$(BIN)/tessera run $(DEMO_OUT)/scene/scene.ntf --request $(DEMO_OUT)/scene/request.json --model cfar \
		--out $(DEMO_OUT) > $(DEMO_OUT)/run.json || { cat $(DEMO_OUT)/run.json; exit 1; }
	@echo
	@$(BIN)/tessera evaluate "$$($(BIN)/python -c 'import json, sys; print(json.load(sys.stdin)["files"]["features"])' \
		< $(DEMO_OUT)/run.json)" $(DEMO_OUT)/scene/truth.geojson --run $(DEMO_OUT)/run.json \
		--image $(DEMO_OUT)/scene/scene.tif --quicklook $(DEMO_OUT)/quicklook.png --out $(DEMO_OUT)/accuracy.json
	@echo "Results written to $(DEMO_OUT)/"
else
	$(BIN)/tessera run $(DEMO_IMAGE) --out $(DEMO_OUT)
	@echo "Results written to $(DEMO_OUT)/"
endif

# After `make demo`: the demo scene as a viewpoint, its detections overlaid (or SERVE_IMAGE/SERVE_FEATURES).
SERVE_IMAGE ?= $(DEMO_OUT)/scene/scene.ntf
SERVE_FEATURES ?= $(firstword $(wildcard $(DEMO_OUT)/job-*.geojson))
serve: install
	$(BIN)/tessera serve $(SERVE_IMAGE) $(if $(SERVE_FEATURES),--features $(SERVE_FEATURES))

bench: install
	$(BIN)/pip install --quiet -r requirements-bench.txt -c requirements-lock.txt
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS) || [ $$? -eq 5 ]  # 5: no test is marked slow
	@status=0; for b in bench/bench_*.py; do echo; $(BIN)/python "$$b" $(BENCH_ARGS) || status=1; done; exit $$status

clean:
	rm -rf cdk.out layers/build $(DEMO_OUT) .pytest_cache
