# GridTwin: `make run` starts it on the simulated station, `make test` runs the whole suite
# headless. Both bootstrap what they need on a fresh Debian 12 machine: the Debian libraries
# Qt needs (installed when running as root and missing), a .venv with Python 3.11 and every
# Python package (torch is pinned to the machine's CPU build).

SHELL := /bin/bash
.DEFAULT_GOAL := help

# The interpreter the .venv is built from. Left empty, the recipe picks python3.11, else
# python3, *when it runs* (after deps-python may have installed it): a $(shell ...) here would
# be evaluated while make reads this file, before anything is installed.
PYTHON ?=
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Python itself on a fresh Debian 12 (its python3 is 3.11); venv and pip are separate packages.
DEB_PY   := python3 python3-venv python3-pip
# Libraries Qt needs offscreen, then those for a real X server (Xvfb) in the tests.
DEB_QT   := libgl1 libegl1 libfontconfig1 libglib2.0-0 libxkbcommon0 libdbus-1-3 fonts-dejavu-core
DEB_XVFB := xvfb xauth libgl1-mesa-dri libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 \
            libxcb-render-util0 libxcb-shape0 libxcb-xkb1 libxkbcommon-x11-0 mbpoll \
            postgresql-15

.PHONY: help run test test-shifted smoke lint bench deps-python deps-run deps-test venv installed clean \
        package package-smoke package-debian package-test

help:
	@echo "make run    start GridTwin on the simulated station (sets everything up first)"
	@echo "make test   run the whole test suite headless (sets everything up first)"
	@echo "make test-shifted   the date-sensitive suites with the program's clock a year ahead"
	@echo "make smoke  start the HMI headless for a few seconds and save a screenshot"
	@echo "make lint   ruff and the import contract"
	@echo "make bench  the benchmarks (figures and ratios)"
	@echo "make package       the packaged program: dist/gridtwin/, its .tar.gz and .deb"
	@echo "make package-test  smoke-test the bundle, then install the .deb on a bare Debian 12"

run: deps-run installed
	$(VENV)/bin/gridtwin run

test: deps-test installed
	@./packaging/fetch-influxd.sh .cache/influxdb || true
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "not xvfb"
	@# The live 3D view needs a real X server with OpenGL: Xvfb with Mesa.
	QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1080x24" $(PY) -m pytest -q -m xvfb

# The suites that meet wall-clock logic (retention, "last N days", shelving expiry, session
# and selection timeouts), run with the program's clock 400 days ahead: a test that dated its
# data with a fixed calendar day fails here long before that day comes.
SHIFTED_SUITES := tests/historian tests/alarms tests/control tests/ui/test_docks.py \
                  tests/ui/test_alarms.py tests/ui/test_login_flows.py tests/runtime
test-shifted: deps-test installed
	@./packaging/fetch-influxd.sh .cache/influxdb || true
	GRIDTWIN_CLOCK_SHIFT_DAYS=400 QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -m "not xvfb" \
	  $(SHIFTED_SUITES)

# What `make run` starts, headless: the field-sim, both protocols, the historian, every dock;
# fails unless the window shows live data and its screenshot is written.
SMOKE_DIR := $(or $(TMPDIR),/tmp)/gridtwin-smoke
smoke: deps-run installed
	rm -rf $(SMOKE_DIR) && mkdir -p $(SMOKE_DIR)
	GRIDTWIN_DATA_DIR=$(SMOKE_DIR) QT_QPA_PLATFORM=offscreen $(VENV)/bin/gridtwin run \
	  --headless --duration 8 --screenshot $(SMOKE_DIR)/hmi.png
	@test -s $(SMOKE_DIR)/hmi.png && echo "smoke: $(SMOKE_DIR)/hmi.png written"

# The packaged program (PyInstaller, one folder) for workstations with no Python: dist/gridtwin/,
# dist/gridtwin-<version>-linux-x86_64.tar.gz and dist/gridtwin_<version>_<arch>.deb; the build
# prints the sizes against the budget and the ten largest parts. See packaging/.
package: deps-run installed
	./packaging/build.sh $(PY)

# The bundle from a scratch directory with an empty environment: --version, solve --json, the
# first administrator, 15 s of the headless HMI against its own field-sim with a screenshot,
# and the start-to-first-live-frame budget (8 s).
PKG_SMOKE_DIR := build/package/smoke
package-smoke:
	@test -x dist/gridtwin/gridtwin || { echo "no dist/gridtwin: make package first" >&2; exit 1; }
	rm -rf $(PKG_SMOKE_DIR)
	./packaging/smoke.sh "$(CURDIR)/dist/gridtwin/gridtwin" "$(CURDIR)/$(PKG_SMOKE_DIR)"

# The .deb on a bare Debian 12 (debootstrap minbase, chroot; needs root): only the declared
# Depends installed, then the same smoke test inside.
package-debian:
	./packaging/debian-test.sh $$(ls -t dist/gridtwin_*.deb | head -1)

package-test: package-smoke package-debian

# The project installed in the .venv (editable): re-done if anything removed it since the
# stamp was written (a pip run on this environment from elsewhere, say).
installed: $(STAMP)
	@test -x $(VENV)/bin/gridtwin || $(PY) -m pip install -q -e '.[ui,ml,dev]'

lint: installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: installed
	$(VENV)/bin/gridtwin bench twin

# Only needed to build the .venv: skipped when it exists or a chosen PYTHON has venv.
deps-python:
	@if [ ! -x $(PY) ] && [ -z "$(PYTHON)" ]; then ./packaging/debian-deps.sh $(DEB_PY); fi

deps-run:
	@./packaging/debian-deps.sh $(DEB_QT)

deps-test:
	@./packaging/debian-deps.sh $(DEB_QT) $(DEB_XVFB)

venv: $(STAMP)

$(STAMP): pyproject.toml | deps-python
	@if [ ! -x $(PY) ]; then \
	  py="$(PYTHON)"; py="$${py:-$$(command -v python3.11 || command -v python3)}"; \
	  if [ -z "$$py" ]; then echo "No python3 found: install Python 3.11 (Debian 12: apt-get install $(DEB_PY))" >&2; exit 1; fi; \
	  "$$py" -c 'import sys; assert sys.version_info[:2] == (3, 11), \
	    "GridTwin needs Python 3.11 (pyiec61850 ships a wheel for CPython 3.11 only); found " + sys.version' || exit 1; \
	  echo "Creating $(VENV) with $$py"; "$$py" -m venv $(VENV) || exit 1; \
	fi
	@$(PY) -c 'import sys; assert sys.version_info[:2] == (3, 11), \
	  "$(VENV) is not Python 3.11 (pyiec61850 ships a wheel for CPython 3.11 only): " + sys.version'
	$(PY) -m pip install -q --upgrade pip setuptools wheel
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e '.[ui,ml,dev]'
	@touch $(STAMP)

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
