"""Benchmark: the whole job on womens-clothing (quick profile), then the filter ablation on its rows.

1. `python -m augment run womens-clothing --profile quick` in a child process, timed end to end
   (the README's main job). Its fidelity report is copied to reports/filter_ablation/example_report/.
2. The same generated rows (RUN/synthetic_all.parquet, with text) filtered again in each admission
   mode: none, threshold, top, rejection, drs. For each: acceptance, SDMetrics QualityReport of the
   admitted rows against the real test split (tabular columns), detection ROC AUC (logistic
   regression and gradient boosting), the text embedding Fréchet distance to the test split's text,
   and rating consistency (Spearman of the filter judge's reading of each text with its rating).

    python bench/filter_ablation.py      # writes reports/filter_ablation/ and its example_report/
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

from scipy.stats import spearmanr

from augment.data import read_table
from augment.evaluate.report import split_columns, typed
from augment.evaluate.tabular import detection_auc, quality
from augment.evaluate.text import frechet_distance
from augment.filter import FilterConfig, filter_rows
from augment.prepared import Prepared
from augment.runs import RunDir, package_versions
from augment.text.encoder import embed
from augment.text.gates import joined_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/x.py` from anywhere
from bench.reporting import report_folder, write_report

MODES = ("none", "threshold", "top", "rejection", "drs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run", default="runs/ablation")
    parser.add_argument("--reuse-run", action="store_true",
                        help="keep a finished RUN instead of running the job again (its time is then the sum of "
                             "the stages' seconds in its manifest)")
    args = parser.parse_args()

    run = RunDir(args.run)
    if args.reuse_run and "synthesize" in run.manifest().get("stages", {}):
        job_seconds, timed = round(sum(s["seconds"] for s in run.manifest()["stages"].values()), 1), "stages"
    else:
        shutil.rmtree(args.run, ignore_errors=True)
        command = [sys.executable, "-m", "augment", "run", "womens-clothing", "--out", args.run, "--profile", "quick",
                   "--rows", str(args.rows), "--seed", str(args.seed)]
        started = time.perf_counter()
        subprocess.run(command, check=True)
        job_seconds, timed = round(time.perf_counter() - started, 1), "end to end"
    shutil.rmtree(report_folder("filter_ablation") / "example_report", ignore_errors=True)
    shutil.copytree(run.file("report"), report_folder("filter_ablation") / "example_report")

    prepared = Prepared.load(run)
    schema, split, clean = prepared.schema, prepared.split, prepared.clean
    train, validation, test = (clean.loc[split[n]] for n in ("train", "validation", "test"))
    generated = read_table(run.file("synthetic_all.parquet"))
    rows = generated[schema.names].copy()
    rows.index = generated["synthetic_id"].to_numpy()
    test = typed(test, schema)  # scored as the report scores: 0/1 and True/False are one boolean
    continuous, discrete = split_columns(schema)
    test_embeddings = embed(joined_text(test, schema.text_columns).sample(1500, random_state=0).tolist())
    results = {}
    for mode in MODES:
        scored, summary = filter_rows(rows, train, validation, schema, prepared.preprocessor,
                                      FilterConfig(mode=mode), args.seed)
        admitted = typed(scored[scored["admitted"]], schema).assign(text_rating=scored["text_rating"])
        texts = joined_text(admitted, schema.text_columns)
        results[mode] = {
            "generated": len(scored), "admitted": len(admitted),
            "acceptance_rate": summary["acceptance_rate"], "rejected_by": summary["rejected_by"],
            **_quality(test, admitted, continuous, discrete),
            "detection_auc": round(detection_auc(test, admitted, continuous, discrete, args.seed), 4),
            "detection_auc_boosting": round(detection_auc(test, admitted, continuous, discrete, args.seed,
                                                          model="boosting"), 4),
            "rating_consistency": _rating_consistency(admitted, schema.target),
            "text_frechet": round(frechet_distance(test_embeddings, embed(texts.sample(min(1500, len(texts)),
                                                                                   random_state=0).tolist())), 4),
        }
        print(mode, results[mode], flush=True)
    manifest = run.manifest()["stages"]
    summary = {
        "command": "python bench/filter_ablation.py " + " ".join(sys.argv[1:]),
        "job": {"command": "python -m augment run womens-clothing --profile quick --rows " + str(args.rows),
                "seconds": job_seconds, "timed": timed,
                "stage_seconds": {name: stage["seconds"] for name, stage in manifest.items()},
                "stage_peak_rss_mb": {name: stage.get("peak_rss_mb") for name, stage in manifest.items()}},
        "ablation": results,
        "versions": package_versions(),
    }
    write_report("filter_ablation", summary, markdown(summary))
    print(markdown(summary))


def _quality(real, synthetic, continuous, discrete) -> dict:
    scores = quality(real, synthetic, continuous, discrete)  # SDMetrics' QualityReport
    return {"quality": round(scores.quality, 4), "column_shapes": round(scores.shapes, 4),
            "column_pair_trends": round(scores.pair_trends, 4)}


def _rating_consistency(admitted, target: str) -> float | None:
    """Spearman of the filter judge's reading of each admitted text with the rating it was written for."""
    rows = admitted[["text_rating", target]].dropna() if "text_rating" in admitted else admitted.iloc[:0]
    return round(float(spearmanr(rows["text_rating"], rows[target]).statistic), 4) if len(rows) > 2 else None


def markdown(summary: dict) -> str:
    job = summary["job"]
    lines = [
        "# The whole job and the filter ablation (womens-clothing, 2 CPU cores)",
        "",
        f"Command: `{summary['command']}`.",
        "",
        f"`{job['command']}` took **{job['seconds']} s** "
        + ("end to end" if job.get("timed") == "end to end" else "(the sum of its stages, from the run's manifest)")
        + "; by stage (s): "
        + ", ".join(f"{k} {v}" for k, v in job["stage_seconds"].items()) + "; peak resident memory by stage "
        "(MB): " + ", ".join(f"{k} {v}" for k, v in job["stage_peak_rss_mb"].items()) + ".",
        "",
        ("The same generated rows, admitted by each mode. Quality, shapes, pair trends: SDMetrics `QualityReport` "
        "of the admitted rows against the real test split (higher is better). Detection: cross-validated "
        "ROC AUC, test vs admitted rows, by logistic regression and by gradient boosting (0.5 is best). Text "
        "Fréchet: MiniLM embeddings of admitted text vs test text (lower is better). Rating consistency: Spearman "
        "of the filter judge's reading of each admitted text with its rating (higher is better)."),
        "",
        ("| mode | generated | admitted | acceptance | quality | shapes | pair trends | detection AUC (LR) "
         "| detection AUC (GB) | text Fréchet | rating consistency |"),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mode, r in summary["ablation"].items():
        lines.append(f"| {mode} | {r['generated']} | {r['admitted']} | {r['acceptance_rate']:.1%} | {r['quality']} | "
                     f"{r['column_shapes']} | {r['column_pair_trends']} | {r['detection_auc']} | "
                     f"{r['detection_auc_boosting']} | {r['text_frechet']} | {r['rating_consistency']} |")
    lines += ["", "Rows rejected, by first failing reason:", ""]
    lines += [f"- {mode}: {r['rejected_by']}" for mode, r in summary["ablation"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
