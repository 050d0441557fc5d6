"""`augment export`: train/validation/test files that pandas and Hugging Face `datasets` read directly.

Layout: DIR/train.<ext>, DIR/validation.<ext>, DIR/test.<ext>; `load_dataset("parquet", data_dir=DIR)`
maps them to its train/validation/test splits by name. Train is the augmented table when the run
has one (real train rows plus admitted synthetic rows, column `is_synthetic`), else the real rows.
Validation and test are always the real rows, untouched.
"""

from __future__ import annotations

from pathlib import Path

from augment.data import read_table, write_table
from augment.prepared import Prepared
from augment.runs import SPLIT_NAMES

AUGMENTED = "augmented.parquet"


def export_run(prepared: Prepared, out: str | Path, fmt: str = "parquet") -> list[Path]:
    """Write DIR/{train,validation,test}.<fmt>; returns the paths written."""
    run = prepared.run
    run.refuse_own(out)
    written = []
    for name in SPLIT_NAMES:
        if name == "train" and run.file(AUGMENTED).is_file():
            table = read_table(run.file(AUGMENTED))
        else:
            table = prepared.raw_rows(name).reset_index(drop=True)
            table["is_synthetic"] = False
        written.append(write_table(table, Path(out) / f"{name}.{fmt}"))
    return written
