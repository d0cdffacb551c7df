# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= configs/sagan.py:digits
WORKDIR ?= runs/default

.PHONY: run test test-faults venv bench-attention bench-gan-rings bench-train bench-torch clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip==24.3.1 || true
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

run: venv
	$(PY) launch.py --config $(CONFIG) --workdir $(WORKDIR)

test: venv
	$(PY) -m pytest -q -n 2 tests

test-faults: venv
	$(PY) -m tests.fault_injection --trials 8 --kills 3

bench-attention: venv
	$(PY) -m benchmarks.attention

bench-gan-rings: venv
	$(PY) -m benchmarks.gan_rings

bench-train: venv
	$(PY) -m benchmarks.train_step

bench-torch: venv
	$(PY) -m benchmarks.torch_ref.gan_step_vs_torch

clean:
	rm -rf $(VENV)
