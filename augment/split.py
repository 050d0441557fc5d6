"""Seeded 70/15/15 train/validation/test splits, stratified on the target, optionally grouped.

Splits are row ids (positions in the input table) saved in the run directory, so every later
stage sees the same rows. Generators only ever see train; validation and test stay real.

`limit_split` then shrinks train and validation to what a user with few labelled rows would have,
keeping the test split whole so results compare with a run on the full split.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from augment.errors import UserError
from augment.runs import SPLIT_NAMES, RunDir, write_text

FRACTIONS = (0.70, 0.15, 0.15)
MIN_ROWS = 20  # fewer leaves a validation or test split of one or two rows
MAX_STRATA = 20  # a target with more distinct values is binned into quintiles


def split_rows(
    df: pd.DataFrame, target: str | None, seed: int, group_by: str | None = None
) -> dict[str, np.ndarray]:
    """Row ids (df.index) for train, validation and test; disjoint, covering every row."""
    if len(df) < MIN_ROWS:
        raise UserError(f"too few usable rows to split 70/15/15: {len(df)} (need at least {MIN_ROWS})")
    rng = np.random.default_rng(seed)
    strata = _strata(df[target]) if target else pd.Series(0, index=df.index)
    if group_by is None:
        parts = [_split_units(stratum.index.to_numpy(), np.ones(len(stratum)), rng) for _, stratum in _groups(strata)]
    else:
        if group_by not in df.columns:
            raise UserError(f"--group-by '{group_by}': no such column; columns: {', '.join(df.columns)}")
        groups = df[group_by].astype("string").fillna("\x00null")
        if groups.nunique() < 3:
            raise UserError(f"--group-by '{group_by}': needs at least 3 distinct values to split by group")
        # A group goes to one split; groups are stratified by their most common target stratum.
        group_stratum = strata.groupby(groups).agg(lambda s: s.mode().iloc[0])
        sizes = groups.value_counts()
        parts = []
        for _, members in _groups(group_stratum):
            names = members.index.to_numpy()
            assigned = _split_units(names, sizes[names].to_numpy(dtype=float), rng)
            parts.append(tuple(df.index[groups.isin(set(chosen))].to_numpy() for chosen in assigned))
    split = {name: np.sort(np.concatenate([p[i] for p in parts])) for i, name in enumerate(SPLIT_NAMES)}
    for name, ids in split.items():
        if len(ids) == 0:
            raise UserError(f"the {name} split came out empty; the table has too few rows or groups to split")
    return split


def limit_split(split: dict[str, np.ndarray], target: pd.Series | None, train_rows: int,
                seed: int) -> dict[str, np.ndarray]:
    """Keep `train_rows` train rows and a validation split in proportion (15:70), both stratified on
    the target; the test split stays whole.

    A user with `train_rows` labelled rows fits and selects every model on those rows alone; the test
    split is the yardstick, not data they have, so it is the same as without the limit."""
    available = len(split["train"])
    if not MIN_ROWS <= train_rows < available:
        raise UserError(f"--train-rows {train_rows}: must be at least {MIN_ROWS} and below the {available} "
                        "rows of the full train split")
    validation_rows = min(len(split["validation"]), max(MIN_ROWS, round(train_rows * FRACTIONS[1] / FRACTIONS[0])))
    rng = np.random.default_rng(np.random.SeedSequence([seed, train_rows]))
    strata = _strata(target) if target is not None else None
    return {"train": _stratified_sample(split["train"], strata, train_rows, rng),
            "validation": _stratified_sample(split["validation"], strata, validation_rows, rng),
            "test": split["test"]}


def _stratified_sample(ids: np.ndarray, strata: pd.Series | None, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` of `ids`, each stratum in proportion: shuffle, order by stratum, take evenly spaced rows."""
    shuffled = rng.permutation(ids)
    if strata is not None:
        shuffled = shuffled[np.argsort(strata.loc[shuffled].to_numpy(), kind="stable")]
    # floor(x + 0.5), not round(): banker's rounding could pick one position twice
    picks = np.floor(np.linspace(0, len(shuffled) - 1, count) + 0.5).astype(int)
    return np.sort(shuffled[picks])


def _strata(target: pd.Series) -> pd.Series:
    numbers = pd.to_numeric(target, errors="coerce")
    if numbers.nunique() <= MAX_STRATA:
        return numbers
    return pd.qcut(numbers, q=5, labels=False, duplicates="drop")


def _groups(labels: pd.Series):
    # Sorted so that the order of strata, and so the draws of the rng, never depend on hashing.
    return sorted(labels.groupby(labels), key=lambda item: item[0])


def _split_units(units: np.ndarray, weights: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Shuffle units (rows or groups) and cut them where the cumulative weight crosses 70% and 85%."""
    order = rng.permutation(len(units))
    units, weights = units[order], weights[order]
    cumulative = np.cumsum(weights) / weights.sum()
    bounds = np.cumsum(FRACTIONS)[:-1]
    cuts = np.searchsorted(cumulative, bounds - 1e-9, side="left") + 1
    if len(units) >= 3:  # each split gets at least one unit from a stratum large enough to share
        cuts = np.clip(cuts, [1, 2], [len(units) - 2, len(units) - 1])
        cuts[1] = max(cuts[1], cuts[0] + 1)
    return units[: cuts[0]], units[cuts[0] : cuts[1]], units[cuts[1] :]


def save_split(run: RunDir, split: dict[str, np.ndarray]) -> list[str]:
    """Write the row ids of each split to RUN/split/; returns their paths in the run."""
    outputs = []
    for name in SPLIT_NAMES:
        relative = f"split/{name}.ids"
        write_text(run.file(relative), "".join(f"{i}\n" for i in split[name]))
        outputs.append(relative)
    return outputs


def load_split(run: RunDir) -> dict[str, np.ndarray]:
    """The row ids of each split of a prepared run."""
    split = {}
    for name in SPLIT_NAMES:
        path: Path = run.require("split", f"{name}.ids", hint="run `python -m augment fit` first")
        split[name] = np.loadtxt(path, dtype=np.int64, ndmin=1)
    return split
