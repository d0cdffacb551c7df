# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CONFIG ?= configs/sagan.py:digits
WORKDIR ?= runs/default

.PHONY: run test test-faults venv bench-attention bench-gan-rings bench-train bench-torch bench-mae bench-diffusion \
	study-lra clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip==24.3.1 || true
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

run: venv
	$(PY) launch.py --config $(CONFIG) --workdir $(WORKDIR)

test: venv
	$(PY) -m pytest -q -n 2 --dist worksteal --durations=15 tests

test-faults: venv
	$(PY) -m tests.fault_injection --trials 8 --kills 3

bench-attention: venv
	$(PY) -m benchmarks.attention

bench-gan-rings: venv
	$(PY) -m benchmarks.gan_rings

bench-train: venv
	$(PY) -m benchmarks.train_step

bench-mae: venv
	$(PY) -m benchmarks.mae_step
	$(PY) launch.py --config configs/mae.py:digits --workdir runs/mae_digits
	$(PY) -m benchmarks.mae_probe runs/mae_digits
	$(PY) -m benchmarks.mae_fine_tune runs/mae_digits

bench-torch: venv
	$(PY) -m benchmarks.torch_ref.gan_step_vs_torch

# Study 1 of the README: attention kernels x 3 seeds on the three miniature LRA tasks, matched
# steps, one run at a time (the table's steps/s must not share the cores). STUDY_DIR keeps runs.
STUDY_DIR ?= runs/lra_study
LRA_KERNELS ?= dot_product+linear+performer+local
LRA_STEPS ?= 300
study-lra: venv
	for task in listops digits pathfinder; do \
	  $(PY) launch.py --sweep configs/lra.py:$$task,kernels=$(LRA_KERNELS),steps=$(LRA_STEPS) \
	    --workdir $(STUDY_DIR)/$$task || exit $$?; \
	  $(PY) -m lib.studies.report $(STUDY_DIR)/$$task || exit $$?; \
	done

clean:
	rm -rf $(VENV)

bench-diffusion: venv
	$(PY) -m benchmarks.diffusion_step --sizes S/2,B/2 --batch 4
	$(PY) -m benchmarks.dit_guidance --workdir runs/dit_digits --scales 1,1.5,2,3,4 --out benchmarks/results/dit_guidance_digits
