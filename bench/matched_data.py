"""Benchmark: does augmentation help a user who has only N labelled rows? Every model sees the same N.

1. `python -m augment run womens-clothing --train-rows N --profile quick --rows ROWS`: the generator,
   the text model, the filter and its judge are all fit on the same N real train rows (and a
   validation split in proportion); the test split stays whole.
2. The downstream protocol (`augment.train.experiment`) on the same N rows, with the learner given
   by --learner, for two sets of synthetic rows from that run: every generated row, and the rows the
   run's filter admitted. Arms, each against real-only and against the controls (the real rows
   repeated, EDA copies): the synthetic rows as written (augmented), relabelled by the real-only
   model (self-labelled), relabelled by an ensemble of the N rows (ensemble-labelled), and curated by
   that ensemble (curated; on the admitted rows this is the filter and curation combined).

    python bench/matched_data.py                  # writes reports/matched_data/
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/x.py` from anywhere
from augment.data import read_table
from augment.runs import RunDir
from augment.train.data import data_from_run
from augment.train.experiment import AUGMENTING, ExperimentConfig, run_experiment, summarize
from bench.reporting import write_report

ARMS = ["augmented", "self-labelled", "ensemble-labelled", "curated", "repeated", "eda"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-rows", type=int, default=500, help="the user's labelled rows, N (default 500)")
    parser.add_argument("--rows", type=int, default=800, help="admitted synthetic rows the run makes (default 800)")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.5, 1.0],
                        help="synthetic rows per real row (default 0.5 1)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per setting (default 10)")
    parser.add_argument("--learner", default="tfidf", choices=["tfidf", "zero-shot", "finetune"])
    parser.add_argument("--seed", type=int, default=0, help="the run's seed")
    parser.add_argument("--run", default=None, help="the run's folder (default runs/matchedN)")
    args = parser.parse_args()

    run = RunDir(args.run or f"runs/matched{args.train_rows}")
    if "synthesize" not in run.manifest().get("stages", {}):
        shutil.rmtree(run.path, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "augment", "run", "womens-clothing", "--out", str(run.path),
                        "--train-rows", str(args.train_rows), "--profile", "quick", "--rows", str(args.rows),
                        "--seed", str(args.seed)], check=True)
    generated = read_table(run.file("synthetic_all.parquet"))
    sets = {"every generated row": generated, "rows the filter admitted": generated[generated["admitted"]]}
    results = {}
    for name, rows in sets.items():
        data = data_from_run(str(run.path), False, None, rows)
        config = ExperimentConfig(sizes=[len(data.train)], ratios=args.ratios, seeds=args.seeds,
                                  learner=args.learner, arms=ARMS)
        fits = run_experiment(data, config, log_path=run.file("report", "matched_fits.jsonl"))
        results[name] = {"synthetic_rows": len(data.synthetic), "summary": summarize(fits)}
        print(name, flush=True)
    summary = {"train_rows": args.train_rows, "learner": args.learner, "seeds": args.seeds,
               "run": {"command": (f"python -m augment run womens-clothing --train-rows {args.train_rows} "
                                   f"--profile quick --rows {args.rows} --seed {args.seed}")},
               "sets": results}
    write_report("matched_data", summary, markdown(summary), headline=finding(summary))


def finding(summary: dict) -> str:
    """One sentence: which synthetic arms gained beyond real-only and both controls, and which harmed."""
    verdicts = [(name, entry["ratio"], arm, scores.get("verdict", ""))
                for name, result in summary["sets"].items() for entry in result["summary"]
                for arm, scores in entry["arms"].items() if arm in AUGMENTING]
    gains = [f"{arm} ({name}, {ratio:g}:1)" for name, ratio, arm, verdict in verdicts if verdict == "gain"]
    harms = sorted({arm for _, _, arm, verdict in verdicts if verdict == "harm"})
    text = (f"With {summary['train_rows']} labelled rows ({summary['learner']}), "
            + (f"a gain beyond real-only and both controls: {', '.join(gains)}" if gains
               else "no synthetic arm gains beyond real-only and both controls"))
    return text + (f"; significant harm from {', '.join(harms)}" if harms else "")


def markdown(summary: dict) -> str:
    lines = [f"# Augmentation with only {summary['train_rows']} labelled rows (womens-clothing, {summary['learner']})",
             "",
             (f"Every model (generator, text model, filter, its judge, the ensembles and the learner) sees the same "
              f"{summary['train_rows']} real train rows; the run: `{summary['run']['command']}`. Test RMSE of the "
              f"rating on the whole real test split, mean over {summary['seeds']} seeds; the improvement over "
              "real-only and over each control is paired across seeds, with its 95% CI. A gain counts only if it "
              "beats real-only and both controls, each CI above zero. Macro MAE: the mean absolute error of each "
              "star rating's test rows, averaged over the five ratings (the rare low ratings count as much as the "
              "common fives)."), "", f"**Finding**: {finding(summary)}.", ""]
    for name, result in summary["sets"].items():
        lines += [f"## {name} ({result['synthetic_rows']} rows)", "",
                  "| synthetic:real | arm | RMSE | macro MAE | vs real | vs repeated | vs eda | verdict |",
                  "| ---: | --- | ---: | ---: | --- | --- | --- | --- |"]
        for entry in result["summary"]:
            for arm, scores in entry["arms"].items():
                versus = [_difference(scores.get("vs_real"))] + [
                    _difference(scores.get("vs_controls", {}).get(c)) for c in ("repeated", "eda")]
                lines.append(f"| {entry['ratio']:g} | {arm} | {scores['rmse']:.4f} | {scores.get('macro_mae', float('nan')):.4f} | "
                             + " | ".join(versus) + f" | {scores.get('verdict', '')} |")
            missing = [arm for arm in ARMS if arm not in entry["arms"]]
            if missing:  # curated: fewer rows pass curation than the ratio asks for
                lines.append(f"| {entry['ratio']:g} | {', '.join(missing)} | | | | | | not measured: too few "
                             "synthetic rows for this ratio |")
        lines.append("")
    return "\n".join(lines)


def _difference(comparison: dict | None) -> str:
    if not comparison:
        return ""
    return f"{comparison['improvement']:+.4f} [{comparison['ci_low']:+.4f}, {comparison['ci_high']:+.4f}]"


if __name__ == "__main__":
    main()
