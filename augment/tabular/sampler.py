"""Condition vectors over the discrete columns: for training by sampling, and for exact conditional sampling.

Training (CTGAN's "training by sampling", widened): pick a discrete column, a level with
log-frequency, and a real row with that level; then condition on that row's values of the chosen
column plus, each with a small probability, other discrete columns. Training on several
conditioned columns at once lets sampling fix several columns together without reject loops.
"""

from __future__ import annotations

import numpy as np

from augment.errors import UserError
from augment.schema import KNOWN_BOOLEANS, TRUE_VALUES
from augment.tabular.transformer import DataTransformer, DiscreteColumn, category_key, discrete_codes, normalized

EXTRA_CONDITION_PROBABILITY = 0.15


class ConditionSampler:
    """Draws the conditional vector: a discrete column and one of its levels, by log frequency when training
    (CTGAN's training-by-sampling), by train frequency or a user's condition when sampling.
    """
    def __init__(self, transformer: DataTransformer, codes: dict[str, np.ndarray] | None = None, n_rows: int = 0):
        self.columns: list[DiscreteColumn] = [transformer.column(n) for n in transformer.order
                                              if isinstance(transformer.column(n), DiscreteColumn)]
        offsets, position = [], 0
        for column in self.columns:
            offsets.append(position)
            position += column.levels
        self.offsets = np.array(offsets, dtype=np.int64)
        self.width = position
        self.codes = codes or {}  # column -> level code of every train row (training only)
        self.n_rows = n_rows  # train rows (training only)
        self.rows_by_level = {
            name: [np.flatnonzero(values == level) for level in range(self.column(name).levels)]
            for name, values in self.codes.items()
        }

    def column(self, name: str) -> DiscreteColumn:
        return next(column for column in self.columns if column.name == name)

    @classmethod
    def for_training(cls, transformer: DataTransformer, train) -> ConditionSampler:
        probe = cls(transformer)
        return cls(transformer, {c.name: discrete_codes(c, train[c.name]) for c in probe.columns}, len(train))

    # ------------------------------------------------------------------------------- training

    def sample_training(self, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(condition vectors, mask of conditioned columns, real row indices that satisfy them)."""
        n_columns = len(self.columns)
        if not n_columns:  # an all-numeric table: no conditions, any real rows
            return np.zeros((batch, 0), np.float32), np.zeros((batch, 0), bool), rng.integers(self.n_rows, size=batch)
        chosen = rng.integers(n_columns, size=batch)
        rows = np.empty(batch, dtype=np.int64)
        for j, column in enumerate(self.columns):
            picked = np.flatnonzero(chosen == j)
            if not len(picked):
                continue
            log_freq = np.log1p(np.bincount(self.codes[column.name], minlength=column.levels))
            levels = rng.choice(column.levels, size=len(picked), p=log_freq / log_freq.sum())
            for level in np.unique(levels):
                members = self.rows_by_level[column.name][level]
                at = picked[levels == level]
                rows[at] = members[rng.integers(len(members), size=len(at))]
        mask = rng.random((batch, n_columns)) < EXTRA_CONDITION_PROBABILITY
        mask[np.arange(batch), chosen] = True
        codes = np.stack([self.codes[c.name][rows] for c in self.columns], axis=1)
        return self._vectors(codes, mask), mask, rows

    # ------------------------------------------------------------------------------- sampling

    def sample_conditions(
        self, n: int, conditions: dict[str, object], balance: str | None, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Condition vectors, mask and the level codes of every column for `n` new rows.

        Without conditions, one random column per row is conditioned on a level drawn with its
        real frequency, as CTGAN samples. Requested conditions apply to every row; `balance`
        draws its column's levels uniformly.
        """
        n_columns = len(self.columns)
        codes = np.zeros((n, n_columns), dtype=np.int64)
        mask = np.zeros((n, n_columns), dtype=bool)
        fixed = self.resolve(conditions)
        if balance is not None:
            j = self._index(balance, "--balance")
            if j in fixed:
                raise UserError(f"--balance {balance}: the column is already fixed by --condition")
            codes[:, j] = rng.integers(self.columns[j].levels, size=n)
            mask[:, j] = True
        for j, level in fixed.items():
            codes[:, j], mask[:, j] = level, True
        free = ~mask.any(axis=1)
        if free.any() and n_columns:
            chosen = rng.integers(n_columns, size=int(free.sum()))
            rows = np.flatnonzero(free)
            for j, column in enumerate(self.columns):
                at = rows[chosen == j]
                codes[at, j] = rng.choice(column.levels, size=len(at), p=normalized(column.frequencies))
                mask[at, j] = True
        return self._vectors(codes, mask), mask, codes

    def resolve(self, conditions: dict[str, object]) -> dict[int, int]:
        """Column index -> level code of each condition, or a UserError listing what is valid."""
        return {self._index(name, "--condition"): self.level_of(name, value)[0] for name, value in conditions.items()}

    def level_of(self, name: str, value) -> tuple[int, object]:
        """(level code, the train split's own spelling of the value) of a condition's value."""
        column = self.columns[self._index(name, "--condition")]
        known = [*column.categories, *column.rest]
        if all(isinstance(c, bool) for c in known if c is not None) and isinstance(value, str):
            value = value.strip().lower() in TRUE_VALUES if value.strip().lower() in KNOWN_BOOLEANS else value
        key = category_key(value)
        lookup = column.lookup()
        if key not in lookup:
            shown = [str(c) for c in known if c is not None]
            more = f" and {len(shown) - 30} more" if len(shown) > 30 else ""
            raise UserError(f"--condition {name}={value}: unknown value; valid values: {', '.join(shown[:30])}{more}")
        return lookup[key], next(c for c in known if category_key(c) == key)

    def _index(self, name: str, flag: str) -> int:
        for j, column in enumerate(self.columns):
            if column.name == name:
                return j
        valid = ", ".join(c.name for c in self.columns) or "(none)"
        raise UserError(f"{flag} {name}: not a column that can be conditioned on; discrete columns: {valid}")

    def _vectors(self, codes: np.ndarray, mask: np.ndarray) -> np.ndarray:
        vectors = np.zeros((len(codes), self.width), dtype=np.float32)
        rows, cols = np.nonzero(mask)
        vectors[rows, self.offsets[cols] + codes[rows, cols]] = 1.0
        return vectors
