"""`augment export`: train/validation/test files that pandas and Hugging Face `datasets` read directly.

Layout, one folder per split so that no reader merges them by accident:

    DIR/README.md                      a dataset card: splits, columns (features and provenance), origin
    DIR/manifest.json                  the same facts for machines
    DIR/train/train.<ext>              the augmented table when the run has one, else the real rows
    DIR/validation/validation.<ext>    real rows, untouched
    DIR/test/test.<ext>                real rows, untouched

`load_dataset("parquet", data_dir=DIR)` maps the folders to its splits by name. Every split has the
same columns: the input's, then the provenance columns (`is_synthetic`, `generator`,
`synthetic_id`, `score_p_real`), filled for real rows too; `features_only` leaves them out. Parquet
files carry the manifest in their metadata (key `behavior_augment`). The folder is written aside
and renamed into place: a failed export leaves nothing.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from augment.data import read_table, table_format, write_table
from augment.errors import UserError
from augment.prepared import Prepared
from augment.runs import (
    PROVENANCE_COLUMNS,
    SPLIT_NAMES,
    atomic_path,
    provenance,
    staging_folder,
    write_json,
    write_text,
)

AUGMENTED = "augmented.parquet"
MARKER = "behavior_augment"  # the manifest's key in Parquet metadata, and how an earlier export is recognized


def export_run(prepared: Prepared, out: str | Path, fmt: str = "parquet", features_only: bool = False) -> list[Path]:
    """Write the export folder OUT (replacing an earlier export there); returns the split files."""
    out = Path(out)
    run = prepared.run
    run.refuse_own(out)
    if out.exists() and any(out.iterdir()) and not _is_export(out):
        raise UserError(f"{out}: exists and is not an earlier export; export into a new or empty folder")
    tables = {name: _split_table(prepared, name, features_only) for name in SPLIT_NAMES}
    manifest = provenance({"data": prepared.raw_path, "run manifest": run.manifest_path}) | {
        "kind": MARKER, "run": str(run.path.resolve()), "format": fmt, "features_only": features_only,
        "features": list(prepared.raw.columns), "target": prepared.schema.target,
        "provenance_columns": [] if features_only else list(PROVENANCE_COLUMNS),
        "splits": {name: {"rows": len(t), "synthetic_rows": int(t["is_synthetic"].sum()) if not features_only
                          else None} for name, t in tables.items()},
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = staging_folder(out.parent, f".{out.name}-")
    try:
        for name, table in tables.items():
            _write(table, staging / name / f"{name}.{fmt}", manifest)
        write_json(staging / "manifest.json", manifest)
        write_text(staging / "README.md", dataset_card(manifest))
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out / name / f"{name}.{fmt}" for name in SPLIT_NAMES]


def _split_table(prepared: Prepared, name: str, features_only: bool) -> pd.DataFrame:
    """A split's rows: the input's columns, then the provenance columns (or none with features_only)."""
    augmented = prepared.run.file(AUGMENTED)
    if name == "train" and augmented.is_file():
        table = read_table(augmented)
    else:
        table = prepared.raw_rows(name).reset_index(drop=True)
        table = table.assign(is_synthetic=False, generator="real", score_p_real=np.nan,
                             synthetic_id=pd.Series([None] * len(table), dtype="string"))
    columns = list(prepared.raw.columns)
    return table[columns] if features_only else table[columns + list(PROVENANCE_COLUMNS)]


def _write(table: pd.DataFrame, path: Path, manifest: dict) -> None:
    if table_format(path) != "parquet":
        write_table(table, path)
        return
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), MARKER.encode(): json.dumps(manifest)})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp)


def _is_export(folder: Path) -> bool:
    try:
        return json.loads((folder / "manifest.json").read_text(encoding="utf-8")).get("kind") == MARKER
    except (OSError, ValueError, AttributeError):
        return False


def dataset_card(manifest: dict) -> str:
    """The export's README.md: what the files are, for a person."""
    splits = "\n".join(f"| {name} | `{name}/{name}.{manifest['format']}` | {info['rows']} | "
                       f"{'' if info['synthetic_rows'] is None else info['synthetic_rows']} |"
                       for name, info in manifest["splits"].items())
    provenance_note = ("Provenance columns (not features; drop them before training, or export with "
                       "`--features-only`): `" + "`, `".join(manifest["provenance_columns"]) + "`. Real rows have "
                       "`is_synthetic` false and `generator` \"real\"." if manifest["provenance_columns"]
                       else "Only the input's columns are kept (`--features-only`): nothing marks synthetic rows.")
    data = manifest["inputs"].get("data", {})
    return f"""# Dataset exported by behavior-augment {manifest['tool_version']}

Train holds the real train rows, exactly as read, and the synthetic rows the quality filter admitted;
validation and test hold real rows only, never seen by any generator. Load with
`datasets.load_dataset("{'json' if manifest['format'] == 'jsonl' else manifest['format']}", data_dir=THIS_FOLDER)` or read each
file with pandas.

| split | file | rows | synthetic rows |
| --- | --- | ---: | ---: |
{splits}

Features: `{'`, `'.join(manifest['features'])}`; the target is `{manifest['target']}`.
{provenance_note}

Made on {manifest['date']} from `{data.get('path', 'the run input')}` (sha256 `{data.get('sha256', '')}`) and
the run `{manifest['run']}`; `manifest.json` has the versions and the command.
"""
