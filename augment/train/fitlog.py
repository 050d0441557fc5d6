"""A log of finished fits, so an experiment killed after hours resumes where it stopped.

One JSON line per fit, flushed and synced as the fit ends: the fit's key and its scores. The key
is what decides the fit's result (the learner's settings, the contents of the rows it trains on,
validates and tests on, the seed, the number of processes), not the experiment it belongs to, so a
rerun skips every fit already done, also across experiments: changing the synthetic rows refits
only the arms that train on them. A line cut short by a crash, or from another format, is ignored.
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
    """Finished fits, one JSON line each, so a killed experiment resumes without refitting them."""
    def __init__(self, path: str | Path | None):
        self.path, self.done = Path(path) if path else None, {}
        if self.path is None or not self.path.is_file():
            return
        text = self.path.read_text(encoding="utf-8")
        if text and not text.endswith("\n"):  # cut short by a crash: the next fit starts its own line
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("\n")
        for line in text.splitlines():
            entry = _parse(line)
            if entry is not None:
                self.done[entry["fit"]] = entry["scores"]

    def get(self, key: str) -> dict | None:
        return self.done.get(key)

    def add(self, key: str, scores: dict) -> None:
        self.done[key] = scores
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps({"fit": key, "scores": scores}) + "\n")
            handle.flush()
            os.fsync(handle.fileno())


def _parse(line: str) -> dict | None:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return None  # cut short by a crash
    return entry if isinstance(entry, dict) and {"fit", "scores"} <= entry.keys() else None
