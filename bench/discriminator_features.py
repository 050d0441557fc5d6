"""What tells a run's synthetic rows from real ones? The quality filter's discriminator, feature group by group.

The filter's discriminator (cross-fitted logistic regression, `augment/filter.py`) is fit on real
train rows against a run's generated rows (`RUN/synthetic_all.parquet`, every row before any
filter) with one group of its features at a time: all of them (what the filter uses), the tabular
fields only, the text statistics only (log word count, distinct-word share, empty), the MiniLM text
embedding only, and each tabular field alone (the other fields held at one constant value in
every row, so they carry no signal). Reported: the out-of-fold ROC AUC of each (0.5: the group
cannot tell synthetic from real; 1: it always can) and the mean P(real) of the synthetic rows.

    python bench/discriminator_features.py [--runs runs/full runs/full2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from augment.data import read_table
from augment.filter import Discriminator, Featurizer, FilterConfig
from augment.prepared import Prepared
from augment.runs import RunDir
from bench.reporting import write_report


def separability(real: np.ndarray, synthetic: np.ndarray, seed: int) -> dict:
    from sklearn.metrics import roc_auc_score

    config = FilterConfig()
    real_score, synthetic_score = Discriminator(config.folds, seed).fit(real, synthetic, range(len(real)),
                                                                         range(len(synthetic)))
    auc = roc_auc_score(np.r_[np.ones(len(real)), np.zeros(len(synthetic))], np.r_[real_score, synthetic_score])
    return {"auc": round(float(auc), 3), "synthetic_mean_p_real": round(float(synthetic_score.mean()), 3)}


def run_separability(path: str, rows: int, seed: int) -> dict:
    run = RunDir(path)
    prepared = Prepared.load(run)
    schema, split, clean, preprocessor = prepared.schema, prepared.split, prepared.clean, prepared.preprocessor
    train = clean.loc[split["train"]]
    real = train.sample(FilterConfig().real_rows, random_state=seed)
    synthetic = read_table(run.require("synthetic_all.parquet", hint="run the job first")).head(rows)
    synthetic = synthetic.reset_index(drop=True)
    tabular = Featurizer(schema, preprocessor, train, text="none")
    every = Featurizer(schema, preprocessor, train, text="embeddings")
    real_all, synthetic_all = every(real), every(synthetic)
    width = tabular(real.head(1)).shape[1]
    groups = {"all (the filter's features)": slice(None), "tabular fields": slice(0, width),
              "text statistics": slice(width, width + 3), "text embedding (MiniLM)": slice(width + 3, None)}
    results = {name: separability(real_all[:, cut], synthetic_all[:, cut], seed) for name, cut in groups.items()}
    fields = [c.name for c in schema.columns if c.role != "text"]
    for field in fields:
        constant = {c: real[c].iloc[0] for c in fields if c != field}  # every other field carries no signal
        results[f"field: {field}"] = separability(tabular(real.assign(**constant)),
                                                  tabular(synthetic.assign(**constant)), seed)
    print(path, results, flush=True)
    return {"real_rows": len(real), "synthetic_rows": len(synthetic), "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=["runs/full"], help="runs whose synthesize stage has finished")
    parser.add_argument("--rows", type=int, default=4000, help="synthetic rows used (each run's first ones)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    runs = {path: run_separability(path, args.rows, args.seed) for path in args.runs}
    command = "python bench/discriminator_features.py " + " ".join(sys.argv[1:])
    first = next(iter(runs.values()))
    lines = ["# What tells synthetic rows from real ones? (the filter's discriminator, by feature group)", "",
             (f"Command: `{command}`. {first['real_rows']} real train rows vs each run's first "
             f"{first['synthetic_rows']} generated rows (before any filter); 5-fold cross-fitted logistic "
             "regression, out-of-fold scores. ROC AUC: 0.5, the features cannot tell synthetic from real rows; "
             "1, they always can. P(real): the mean out-of-fold P(real) of the synthetic rows."), "",
             "| features | " + " | ".join(f"{path}: AUC | {path}: P(real)" for path in runs) + " |",
             "| --- |" + " ---: | ---: |" * len(runs)]
    for name in first["results"]:
        cells = [f"{r['results'][name]['auc']:.3f} | {r['results'][name]['synthetic_mean_p_real']:.3f}"
                 for r in runs.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    write_report("discriminator_features", {"command": command, "runs": runs}, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
