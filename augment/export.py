"""`augment export`: train/validation/test files that pandas and Hugging Face `datasets` read directly.

Layout: DIR/train.<ext>, DIR/validation.<ext>, DIR/test.<ext>; `load_dataset("parquet", data_dir=DIR)`
maps them to its train/validation/test splits by name. Train is the augmented table when the run
has one (real train rows plus admitted synthetic rows, column `is_synthetic`), else the real rows.
Validation and test are always the real rows, untouched.
"""

from __future__ import annotations

from pathlib import Path

from augment.data import read_table, write_table
from augment.pipeline import load_prepared
from augment.runs import SPLIT_NAMES, RunDir

AUGMENTED = "augmented.parquet"


def export_run(run_path: str | Path, out: str | Path, fmt: str = "parquet") -> list[Path]:
    run = RunDir(run_path)
    df, _, split, _ = load_prepared(run)
    written = []
    for name in SPLIT_NAMES:
        if name == "train" and run.file(AUGMENTED).is_file():
            table = read_table(run.file(AUGMENTED))
        else:
            table = df.iloc[split[name]].reset_index(drop=True)
            table["is_synthetic"] = False
        written.append(write_table(table, Path(out) / f"{name}.{fmt}"))
    return written
