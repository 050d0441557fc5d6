"""Rules every train row keeps, kept in generated rows too: columns another column determines, and
pairs of levels that never occur together.

A GAN learns such rules only approximately, and a strong detector finds every row that breaks one
(on UCI Adult, a generated education with another education's number, or a husband who is female,
gave synthetic rows away at ROC AUC 0.97). Both rules are read from the train rows alone:

- Determined columns (functional dependencies): a column that takes one value per level of a discrete
  column on every train row (education -> education-num) is not generated; it is looked up from
  the generated level. Only dependencies seen on at least MIN_ROWS_PER_LEVEL rows per level on
  average count, so a few rows per level cannot fake one.
- Impossible level pairs: two levels of two discrete columns that no train row shows together
  although independence predicts at least MIN_EXPECTED rows with both (the chance of none under
  independence is then below e^-10). A generated row with such a pair is drawn again.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from augment.tabular.transformer import DataTransformer, DiscreteColumn, category_key, json_value

MIN_ROWS_PER_LEVEL = 20
MIN_EXPECTED = 10.0


@dataclass
class Determined:
    """A column looked up from the generated level of its source column."""
    column: str
    source: str
    values: dict[str, object]  # category_key of the source level -> the column's value (JSON)

    def apply(self, rows: pd.DataFrame) -> pd.Series:
        return pd.Series([self.values[category_key(v)] for v in rows[self.source]], index=rows.index, dtype=object)


def determined_columns(train: pd.DataFrame, sources: list[str], candidates: list[str]) -> list[Determined]:
    """The candidates (not the target, nothing with nulls or dates) that one of the discrete `sources`
    determines on every train row; a column determined is never a source, so rules never chain."""
    found: list[Determined] = []
    taken: set[str] = set()  # determined columns and the sources already used
    for source in sources:
        if source in taken or train[source].isna().any():
            continue
        keys = train[source].map(category_key)
        if keys.nunique() < 2 or len(train) < MIN_ROWS_PER_LEVEL * keys.nunique():
            continue
        for column in candidates:
            values = train[column]
            if column == source or column in taken or values.isna().any() or values.nunique() < 2 \
                    or pd.api.types.is_datetime64_any_dtype(values):
                continue
            by_level = values.groupby(keys)
            if (by_level.nunique() == 1).all():
                found.append(Determined(column, source, {k: json_value(v) for k, v in by_level.first().items()}))
                taken.update((column, source))
    return found


@dataclass
class ImpossiblePairs:
    """Pairs of discrete levels no train row shows although independence predicts many; `violations`
    marks generated rows that hold one."""
    pairs: list[tuple[int, int]] = field(default_factory=list)  # the two levels' columns in the encoded matrix

    @classmethod
    def fit(cls, transformer: DataTransformer, matrix: np.ndarray) -> ImpossiblePairs:
        """From the encoded train rows (`transformer.transform`)."""
        columns = [(start, width) for c, start, width in transformer.blocks() if isinstance(c, DiscreteColumn)]
        codes = [matrix[:, start : start + width].argmax(axis=1) for start, width in columns]
        pairs = []
        for i, j in itertools.combinations(range(len(columns)), 2):  # co-occurrence counts, column pair by pair
            (start_i, width_i), (start_j, width_j) = columns[i], columns[j]
            together = np.bincount(codes[i] * width_j + codes[j], minlength=width_i * width_j).reshape(width_i, width_j)
            expected = np.outer(together.sum(axis=1), together.sum(axis=0)) / len(matrix)
            pairs += [(int(start_i + a), int(start_j + b))
                      for a, b in zip(*np.nonzero((together == 0) & (expected >= MIN_EXPECTED)))]
        return cls(pairs)

    def violations(self, matrix: np.ndarray) -> np.ndarray:
        """True for each row of an activated (one-hot) encoded matrix that holds an impossible pair."""
        if not self.pairs:
            return np.zeros(len(matrix), dtype=bool)
        levels, index = np.unique(np.ravel(self.pairs), return_inverse=True)  # only the levels some pair names
        index = index.reshape(-1, 2)
        onehot = (matrix[:, levels] > 0.5).astype(np.float32)
        partners = np.zeros((len(levels), len(levels)), dtype=np.float32)  # level -> its impossible partners
        partners[index[:, 0], index[:, 1]] = 1.0
        # A row's levels times their partners: memory of rows x levels, however many pairs there are.
        return ((onehot @ partners) * onehot).sum(axis=1) > 0

