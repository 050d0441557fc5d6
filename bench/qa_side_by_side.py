"""Our fidelity report beside MOSTLY AI's mostlyai-qa on the same real and synthetic tables.

Synthetic rows: our GAN fit on each table's train split (bench/tabular_suite.py's tables and
split), sampled to the test split's size. Both reports get the same three tables: the train rows
the generator saw, the held-out test rows, and the synthetic rows. The table pairs the figures
that measure the same thing and lists the ones only one side has.

    pip install -e '.[bench]' mostlyai-qa
    python bench/qa_side_by_side.py          # writes reports/qa_side_by_side/
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/x.py` from anywhere
from augment.evaluate.report import measure
from augment.tabular.synthesizer import GANConfig, TabularGAN
from bench.reporting import write_report
from bench.tabular_suite import load

# (what is measured, our key path, mostlyai-qa's key path), each path into the two metric dicts
PAIRED = [
    ("one column at a time", ("tabular", "column_shapes"), ("accuracy", "univariate")),
    ("two columns", ("tabular", "column_pair_trends"), ("accuracy", "bivariate")),
    ("three columns", ("tabular", "three_column_accuracy"), ("accuracy", "trivariate")),
    ("telling synthetic from real rows (ROC AUC)", ("tabular", "detection_auc_boosting"),
     ("similarity", "discriminator_auc_training_synthetic")),
    ("share of synthetic rows closer to a training row than to a held-out one", ("privacy", "dcr_share"),
     ("distances", "dcr_share")),
]
OURS_ONLY = ["three-column accuracy's real-vs-real reference", "detection by logistic regression",
             "entity consistency", "membership inference AUC", "NNDR", "DCR ratio against real held-out rows",
             "category and range coverage", "missing-value similarity", "text metrics (for text columns)",
             "a verdict with its rules"]


def dig(tree: dict, path: tuple[str, ...]):
    for key in path:
        tree = tree.get(key) if isinstance(tree, dict) else None
    return tree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", nargs="+", default=["womens-clothing", "adult"])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from mostlyai import qa

    results = {}
    for table in args.tables:
        schema, parts = load(table, args.seed)
        gan = TabularGAN(GANConfig(epochs=args.epochs, patience=0), args.seed)
        gan.fit(parts["train"], schema, parts["validation"], progress=False)
        synthetic = gan.sample(len(parts["test"]), seed=args.seed + 1)
        ours = measure(parts["test"], synthetic, schema, args.seed, train=parts["train"])
        with tempfile.TemporaryDirectory() as folder:
            _, metrics = qa.report(syn_tgt_data=synthetic, trn_tgt_data=parts["train"], hol_tgt_data=parts["test"],
                                   report_path=Path(folder) / "qa.html")
        theirs = metrics.model_dump()
        results[table] = {"ours": ours["tabular"] | {"privacy": ours["privacy"]}, "mostlyai_qa": theirs,
                          "paired": [{"measure": name, "ours": dig(ours, a), "mostlyai_qa": dig(theirs, b)}
                                     for name, a, b in PAIRED]}
        print(table, results[table]["paired"], flush=True)
    summary = {"command": " ".join(["python bench/qa_side_by_side.py", *sys.argv[1:]]), "results": results}
    write_report("qa_side_by_side", summary, markdown(summary))


def markdown(summary: dict) -> str:
    lines = ["# Our report beside mostlyai-qa", "",
             (f"Command: `{summary['command']}`. Same train, held-out and synthetic rows for both. Ours scores "
              "against the held-out rows; mostlyai-qa's accuracy is against the training rows, binned its own way, "
              "so levels differ; what to compare is whether the two agree on which tables and columns are worse.")]
    for table, result in summary["results"].items():
        lines += ["", f"## {table}", "", "| measure | ours | mostlyai-qa |", "| --- | ---: | ---: |"]
        for row in result["paired"]:
            lines.append(f"| {row['measure']} | {_f(row['ours'])} | {_f(row['mostlyai_qa'])} |")
    lines += ["", agreement(summary["results"]), "", "Only in ours: " + "; ".join(OURS_ONLY) + "."]
    return "\n".join(lines) + "\n"


def agreement(results: dict) -> str:
    """Whether the two reports order the tables the same way on each paired measure."""
    tables = list(results)
    if len(tables) < 2:
        return "One table only: no ordering of tables to compare."
    same = []
    for i, (name, *_paths) in enumerate(PAIRED):
        ours = [results[t]["paired"][i]["ours"] for t in tables]
        theirs = [results[t]["paired"][i]["mostlyai_qa"] for t in tables]
        if None not in ours + theirs and _order(ours) == _order(theirs):
            same.append(name)
    return (f"The two reports order the tables ({', '.join(tables)}) the same way on {len(same)} of "
            f"{len(PAIRED)} measures" + (f": {'; '.join(same)}." if same else "."))


def _order(values: list[float]) -> list[int]:
    return sorted(range(len(values)), key=values.__getitem__)


def _f(value) -> str:
    return "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    main()
