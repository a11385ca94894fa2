# Set-up and entry points. `make bench` and `make test` do everything on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# Two installs, each remembered by its stamp: the runtime alone (`make bench`), and the test extra with the
# reference implementation on top (`make test`).
RUNTIME_STAMP := $(VENV)/.iqabench-runtime
TEST_STAMP    := $(VENV)/.iqabench-test
OUT    ?= results
PIP    := $(PY) -m pip install --quiet --no-cache-dir -c constraints/ci.txt

.PHONY: bench test install install-test calibrate clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-cache-dir --upgrade pip

# --no-cache-dir: the CUDA build of torch brings GBs of wheels, and a cached copy would double them on disk.
# Each install is redone whenever the project's requirements or pins change.
$(RUNTIME_STAMP): $(PY) pyproject.toml constraints/ci.txt
	$(PIP) -e .
	touch $(RUNTIME_STAMP)

# The test extra, and the reference implementation (pyiqa 0.1.16 and facexlib 0.3.0, the face detection and
# alignment pyiqa's face metrics use, installed without their heavy optional dependencies — facexlib's would
# bring the GUI build of OpenCV, numba and filterpy, none of which its detection path imports; the extra lists
# the imports they need) for the equivalence tests.
$(TEST_STAMP): $(RUNTIME_STAMP)
	$(PIP) -e '.[test]'
	$(PIP) --no-deps pyiqa==0.1.16 facexlib==0.3.0
	touch $(TEST_STAMP)

install: $(RUNTIME_STAMP)

install-test: $(TEST_STAMP)

bench: $(RUNTIME_STAMP)
	$(VENV)/bin/iqabench bench --out $(OUT)

test: $(TEST_STAMP)
	$(PY) -m pytest

calibrate: $(RUNTIME_STAMP)
	$(VENV)/bin/iqabench calibrate

clean:
	rm -rf $(OUT) build *.egg-info .pytest_cache
