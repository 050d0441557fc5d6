"""Benchmark: our tabular GAN vs SDV's CTGAN and GaussianCopula on womens-clothing, in one run.

Same train split (augment's seed-0 split), same epochs and batch size for the two GANs. Scores are
SDMetrics' own QualityReport and LogisticDetection against the held-out test split, on a sample the
size of the test split; key -> attribute consistency is the share of synthetic rows whose Clothing ID
has the Department Name and Class Name it has in the real data. Peak memory of a 100k-row fit is
measured in a child process.

    pip install -e '.[bench]'          # adds sdv
    python bench/tabular_gan.py        # writes reports/tabular_gan/
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from augment.data import read_table
from augment.evaluate.tabular import detection_auc
from augment.pipeline import PROFILES
from augment.prepared import load_and_detect
from augment.runs import package_versions
from augment.schema import SchemaOverrides, key_attributes
from augment.split import split_rows
from augment.tabular.synthesizer import GANConfig, TabularGAN

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/x.py` from anywhere
from bench.reporting import write_report

KEY, ATTRIBUTES = "Clothing ID", ["Department Name", "Class Name"]
CONTINUOUS = ["Age", "Positive Feedback Count"]


def load_split(seed: int):
    df, schema, clean, _ = load_and_detect("womens-clothing", SchemaOverrides())
    split = split_rows(clean, schema.target, seed)
    tabular = [c for c in df.columns if c not in schema.text_columns]
    # The real rows as read (not the cleaned copy), so SDV sees exactly what a user would give it.
    parts = {name: df.loc[ids, tabular].reset_index(drop=True) for name, ids in split.items()}
    clean_parts = {name: clean.loc[ids].reset_index(drop=True) for name, ids in split.items()}
    return schema, parts, clean_parts


def sdmetrics_scores(real: pd.DataFrame, synthetic: pd.DataFrame) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sdmetrics.reports.single_table import QualityReport

        metadata = {"columns": {
            KEY: {"sdtype": "id"},
            "Age": {"sdtype": "numerical"},
            "Positive Feedback Count": {"sdtype": "numerical"},
            "Rating": {"sdtype": "categorical"},
            "Recommended IND": {"sdtype": "categorical"},
            "Division Name": {"sdtype": "categorical"},
            "Department Name": {"sdtype": "categorical"},
            "Class Name": {"sdtype": "categorical"},
        }}
        real = real.astype({"Recommended IND": int})
        synthetic = synthetic[real.columns].astype({"Recommended IND": int})
        report = QualityReport()
        report.generate(real, synthetic, metadata, verbose=False)
        props = report.get_properties().set_index("Property")["Score"]
    auc = detection_auc(real, synthetic, CONTINUOUS, [c for c in real.columns if c not in CONTINUOUS + [KEY]])
    return {
        "quality": round(float(report.get_score()), 4),
        "column_shapes": round(float(props["Column Shapes"]), 4),
        "column_pair_trends": round(float(props["Column Pair Trends"]), 4),
        "detection_auc": round(auc, 4),
    }


def consistency(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    truth = key_attributes(real, KEY, ATTRIBUTES)
    joined = synthetic[[KEY, *ATTRIBUTES]].join(truth, on=KEY, rsuffix="_real")
    ok = np.ones(len(joined), dtype=bool)
    for name in ATTRIBUTES:
        ok &= joined[name].astype(str).to_numpy() == joined[f"{name}_real"].astype(str).to_numpy()
    return round(float(ok.mean()), 4)


def run_ours(schema, clean, epochs: int, patience: int, seed: int) -> tuple[pd.DataFrame, dict]:
    started = time.perf_counter()
    config = GANConfig(epochs=epochs, patience=patience, batch_size=500)
    gan = TabularGAN(config, seed).fit(clean["train"], schema, clean["validation"])
    seconds = time.perf_counter() - started
    rows = gan.sample(len(clean["test"]), seed=seed + 1)
    return rows, {"fit_seconds": round(seconds, 1), "epochs_run": len(gan.history), "best_epoch": gan.best_epoch,
                  "seconds_per_epoch": round(seconds / len(gan.history), 3)}


def run_sdv(kind: str, train: pd.DataFrame, n: int, epochs: int, seed: int) -> tuple[pd.DataFrame, dict]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sdv.metadata import Metadata
        from sdv.single_table import CTGANSynthesizer, GaussianCopulaSynthesizer

        metadata = Metadata.detect_from_dataframes({"reviews": train})
        metadata.update_column(KEY, sdtype="categorical", table_name="reviews")  # SDV's documented route
        if kind == "ctgan":
            synthesizer = CTGANSynthesizer(metadata, epochs=epochs, batch_size=500, verbose=False)
        else:
            synthesizer = GaussianCopulaSynthesizer(metadata)
        import torch

        torch.manual_seed(seed)
        np.random.seed(seed)
        started = time.perf_counter()
        synthesizer.fit({"reviews": train})  # SDV 2 takes and returns {table name: frame}
        seconds = time.perf_counter() - started
        rows = synthesizer.sample(n)
        rows = rows["reviews"] if isinstance(rows, dict) else rows
    info = {"fit_seconds": round(seconds, 1)}
    if kind == "ctgan":
        info.update(epochs_run=epochs, seconds_per_epoch=round(seconds / epochs, 3))
    return rows, info


def peak_memory_100k(seed: int) -> dict:
    """Fit our GAN for one epoch on 100k rows (train rows drawn with replacement) in a child process."""
    code = (
        "import resource, sys, time\n"
        "from bench.tabular_gan import load_split\n"
        "from augment.tabular.synthesizer import GANConfig, TabularGAN\n"
        "schema, _, clean = load_split(0)\n"
        "big = clean['train'].sample(100_000, replace=True, random_state=0).reset_index(drop=True)\n"
        "t = time.perf_counter()\n"
        "TabularGAN(GANConfig(epochs=1, patience=0), 0).fit(big, schema, clean['validation'], progress=False)\n"
        "print(time.perf_counter() - t)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.split()
    return {"rows": 100_000, "epoch_seconds": round(float(out[0]), 1), "peak_rss_mb": round(int(out[1]) / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30, help="epochs for both GANs in the same-budget run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="tabular_gan", help="writes reports/NAME/")
    args = parser.parse_args()

    schema, parts, clean = load_split(args.seed)
    real_train, real_test = parts["train"], parts["test"]
    n = len(real_test)
    results = {}

    def record(name: str, rows: pd.DataFrame, info: dict) -> None:
        rows = rows[real_test.columns]
        results[name] = {**info, **sdmetrics_scores(real_test, rows), "key_attribute_consistency": consistency(
            read_table("womens-clothing"), rows)}
        print(name, json.dumps(results[name]), flush=True)

    holdout = real_train.sample(n, random_state=args.seed)
    record("real train sample (ceiling)", holdout, {})
    rows, info = run_ours(schema, clean, args.epochs, patience=0, seed=args.seed)
    record(f"ours, {args.epochs} epochs", rows, info)
    rows, info = run_ours(schema, clean, **PROFILES["quick"], seed=args.seed)
    record("ours, quick profile (<=60 epochs, early stop)", rows, info)
    rows, info = run_sdv("ctgan", real_train, n, args.epochs, args.seed)
    record(f"SDV CTGAN, {args.epochs} epochs", rows, info)
    rows, info = run_sdv("copula", real_train, n, args.epochs, args.seed)
    record("SDV GaussianCopula", rows, info)

    ours = results[f"ours, {args.epochs} epochs"]["seconds_per_epoch"]
    ctgan = results[f"SDV CTGAN, {args.epochs} epochs"]["seconds_per_epoch"]
    summary = {
        "command": "python bench/tabular_gan.py " + " ".join(sys.argv[1:]),
        "train_rows": len(real_train),
        "test_rows": n,
        "batch_size": 500,
        "speedup_per_epoch_vs_ctgan": round(ctgan / ours, 1),
        "memory": peak_memory_100k(args.seed),
        "results": results,
        "versions": package_versions(),
        "cores": len(__import__("os").sched_getaffinity(0)),
        "this_process_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    write_report(args.name, summary, markdown(summary))
    print(markdown(summary))


def markdown(summary: dict) -> str:
    lines = [
        "# Tabular GAN benchmark (womens-clothing, tabular columns)",
        "",
        (f"Command: `{summary['command']}` on {summary['cores']} cores. Train split {summary['train_rows']} rows; "
        f"scores against the held-out test split ({summary['test_rows']} rows) with a synthetic sample of the same "
        "size. Quality, shapes, pair trends: SDMetrics `QualityReport` (Clothing ID as id; higher is better). "
        "Detection: ROC AUC of a cross-validated logistic regression telling test rows from synthetic rows "
        "(0.5 = indistinguishable, lower is better). Consistency: rows whose Clothing ID has its real "
        "Department Name and Class Name."),
        "",
        "| generator | fit s | s/epoch | epochs (best) | quality | shapes | pair trends | detection AUC | consistency |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, r in summary["results"].items():
        epochs = f"{r.get('epochs_run', '')}" + (f" ({r['best_epoch']})" if "best_epoch" in r else "")
        lines.append(
            f"| {name} | {r.get('fit_seconds', '')} | {r.get('seconds_per_epoch', '')} | {epochs} | {r['quality']} | "
            f"{r['column_shapes']} | {r['column_pair_trends']} | {r['detection_auc']} | "
            f"{r['key_attribute_consistency']:.1%} |"
        )
    memory = summary["memory"]
    lines += [
        "",
        f"Per-epoch speed-up over SDV CTGAN at the same epochs and batch size: **{summary['speedup_per_epoch_vs_ctgan']}x**.",
        (f"Fitting {memory['rows']:,} rows (one epoch, {memory['epoch_seconds']} s including encoding): peak RSS "
        f"**{memory['peak_rss_mb']} MB**."),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
