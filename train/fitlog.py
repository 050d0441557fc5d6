"""A log of finished fits, so an experiment killed after hours resumes where it stopped.

One JSON line per fit (size, ratio, arm, seed and its scores), flushed and synced as each fit ends.
The first line is the experiment's key (config and data fingerprint); a log with another key is
started afresh, so a changed experiment never reuses old scores. A line cut short by a crash is
ignored on reading.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from augment.runs import value_hash


def data_fingerprint(*tables: pd.DataFrame) -> str:
    """A hash of the tables' contents (row order included)."""
    return value_hash([int(pd.util.hash_pandas_object(t, index=False).sum()) for t in tables])


class FitLog:
    def __init__(self, path: str | Path | None, key: str):
        self.path, self.key, self.done = Path(path) if path else None, key, {}
        if self.path is None:
            return
        lines = self.path.read_text(encoding="utf-8").splitlines() if self.path.is_file() else []
        if lines and _parse(lines[0]) == {"key": key}:
            for line in lines[1:]:
                entry = _parse(line)
                if entry is not None:
                    self.done[_cell(entry)] = entry["scores"]
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._write(self.path.open("w", encoding="utf-8"), {"key": key})

    def get(self, size: int, ratio: float, arm: str, seed: int) -> dict | None:
        return self.done.get((size, float(ratio), arm, seed))

    def add(self, size: int, ratio: float, arm: str, seed: int, scores: dict) -> None:
        self.done[(size, float(ratio), arm, seed)] = scores
        if self.path is not None:
            self._write(self.path.open("a", encoding="utf-8"),
                        {"size": size, "ratio": float(ratio), "arm": arm, "seed": seed, "scores": scores})

    @staticmethod
    def _write(handle, entry: dict) -> None:
        with handle:
            handle.write(json.dumps(entry) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _parse(line: str) -> dict | None:
    try:
        return json.loads(line)
    except json.JSONDecodeError:
        return None  # cut short by a crash


def _cell(entry: dict) -> tuple:
    return entry["size"], float(entry["ratio"]), entry["arm"], entry["seed"]
