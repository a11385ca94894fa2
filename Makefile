# Set-up and entry points. `make bench` and `make test` do everything on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.iqabench-installed
OUT    ?= results

.PHONY: bench test install calibrate clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-cache-dir --upgrade pip

# --no-cache-dir: the CUDA build of torch brings GBs of wheels, and a cached copy would double them on disk.
# Re-installs whenever the project's requirements or pins change. The test extra brings the reference
# implementation (pyiqa 0.1.16, installed without its heavy optional dependencies) for the equivalence tests.
$(STAMP): $(PY) pyproject.toml constraints/ci.txt
	$(PY) -m pip install --quiet --no-cache-dir -c constraints/ci.txt -e '.[test]'
	$(PY) -m pip install --quiet --no-cache-dir -c constraints/ci.txt --no-deps pyiqa==0.1.16
	touch $(STAMP)

install: $(STAMP)

bench: $(STAMP)
	$(VENV)/bin/iqabench bench --out $(OUT)

test: $(STAMP)
	$(PY) -m pytest

calibrate: $(STAMP)
	$(VENV)/bin/iqabench calibrate

clean:
	rm -rf $(OUT) build *.egg-info .pytest_cache
