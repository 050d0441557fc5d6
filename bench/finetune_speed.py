"""Fine-tuning the rating regressor: plain random batches vs batches of rows of similar length.

Reviews run from a few tokens to the 128-token cap, so a random batch of 16 pads most rows to a
much longer one. `FineTuneConfig.length_groups` (default 50) sorts each group of 50 shuffled
batches by length before cutting it; 1 gives plain random batches. Both are fit on the same real
womens-clothing train rows for one epoch per seed, interleaved so the machine's noise falls on both
alike. Reported: the median fit time (training plus one validation pass) and its ratio, the test
RMSE per seed (the gain must not cost accuracy), and the padded tokens per real token of training
batches and of prediction batches.

    python bench/finetune_speed.py [--rows 1000] [--seeds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from augment.prepared import load_and_detect
from augment.schema import SchemaOverrides
from augment.split import split_rows
from augment.train.data import learning_table
from augment.train.learners import FineTuneConfig, FineTunedEncoder, length_grouped_batches, rmse
from bench.reporting import write_report

ARMS = {"random batches (length_groups=1)": 1, "length-grouped batches (length_groups=50)": 50}


def padding(lengths: np.ndarray, batches: list[np.ndarray]) -> float:
    """Tokens the model computes (each row padded to its batch's longest) per real token."""
    return float(sum(lengths[b].max() * len(b) for b in batches) / lengths[np.concatenate(batches)].sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000, help="real train rows fit on")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    _, schema, clean, _ = load_and_detect("womens-clothing", SchemaOverrides())
    split = split_rows(clean, schema.target, seed=0)
    parts = {name: learning_table(clean.loc[ids], schema, False, None) for name, ids in split.items()}
    validation = parts["validation"].sample(1000, random_state=0)
    test = parts["test"].sample(2000, random_state=0)
    results = {arm: {"seconds": [], "rmse": []} for arm in ARMS}
    for seed in range(args.seeds):
        train = parts["train"].sample(args.rows, random_state=seed)
        for arm, groups in ARMS.items():
            learner = FineTunedEncoder(FineTuneConfig(epochs=1, length_groups=groups), seed=seed)
            start = time.perf_counter()
            learner.fit(train["text"].tolist(), train["y"].to_numpy(float),
                        (validation["text"].tolist(), validation["y"].to_numpy(float)))
            results[arm]["seconds"].append(round(time.perf_counter() - start, 1))
            results[arm]["rmse"].append(round(rmse(learner.predict(test["text"].tolist()), test["y"]), 4))
            print(f"seed {seed}, {arm}: {results[arm]['seconds'][-1]} s, RMSE {results[arm]['rmse'][-1]}")
    lengths = learner.token_counts(train["text"].tolist())
    rng = np.random.default_rng(0)
    pads = {"training, random batches of 16": padding(lengths, length_grouped_batches(lengths, 16, rng, 1)),
            "training, length-grouped batches of 16": padding(lengths, length_grouped_batches(lengths, 16, rng, 50)),
            "prediction, given order, batches of 64": padding(lengths, np.array_split(np.arange(len(lengths)),
                                                                                      -(-len(lengths) // 64))),
            "prediction, sorted by length, batches of 64": padding(
                lengths, np.array_split(np.argsort(lengths), -(-len(lengths) // 64)))}
    medians = {arm: float(np.median(r["seconds"])) for arm, r in results.items()}
    slow, fast = medians.values()
    command = "python bench/finetune_speed.py " + " ".join(sys.argv[1:])
    lines = ["# Fine-tuning speed: random vs length-grouped batches (womens-clothing)", "",
             (f"Command: `{command}`. all-MiniLM-L6-v2, {args.rows} real train rows, one epoch, batches of 16, "
             "1,000 validation rows scored once, 2,000 test rows."), "",
             "| batches | median fit (s) | per seed (s) | test RMSE per seed |", "| --- | ---: | --- | --- |"]
    lines += [f"| {arm} | {medians[arm]:.1f} | {', '.join(map(str, r['seconds']))} | "
              f"{', '.join(f'{v:.3f}' for v in r['rmse'])} |" for arm, r in results.items()]
    lines += ["", f"Speed-up (ratio of medians): **{slow / fast:.2f}x**.", "",
              "| batching | computed tokens per real token |", "| --- | ---: |"]
    lines += [f"| {name} | {value:.2f} |" for name, value in pads.items()]
    write_report("finetune_speed", {"command": command, "rows": args.rows, "results": results,
                                    "median_seconds": medians, "speedup": round(slow / fast, 2), "padding": pads},
                 "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
