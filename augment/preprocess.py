"""Preprocessing fit on the train split only, and reversible.

Numbers: missing values imputed with the train median (a `<col>__missing` flag keeps where they
were), outliers capped at the train's 0.5% and 99.5% quantiles, then standardized. Categories and
booleans: missing becomes its own level. `inverse_transform` undoes all of it except the capping.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from augment.schema import Schema

MISSING = "__missing__"
CAP_QUANTILES = (0.005, 0.995)


@dataclass
class NumericStats:
    """A numeric column's train statistics: the median for nulls, capping bounds, mean and spread."""
    median: float
    low: float  # capping bounds
    high: float
    mean: float
    std: float
    integer: bool


class Preprocessor:
    """The filter's view of rows: numbers capped and standardized (a null becomes the median and a missing
    flag), levels as strings;
    `fit(train, schema)` on the real train rows, then `transform(rows)` for any rows.
    """
    def __init__(self, numeric: dict[str, NumericStats] | None = None, discrete: list[str] | None = None):
        self.numeric = numeric or {}
        self.discrete = discrete or []

    def fit(self, train: pd.DataFrame, schema: Schema) -> Preprocessor:
        self.numeric = {}
        for column in schema.columns:
            if not column.is_numeric:
                continue
            values = pd.to_numeric(train[column.name], errors="coerce").dropna().to_numpy(dtype=float)
            if len(values) == 0:
                values = np.zeros(1)  # all null in train: impute zeros, flag everything missing
            low, high = np.quantile(values, CAP_QUANTILES)
            capped = np.clip(values, low, high)
            self.numeric[column.name] = NumericStats(
                median=float(np.median(values)),
                low=float(low),
                high=float(high),
                mean=float(capped.mean()),
                std=float(capped.std()) or 1.0,  # a constant column stays finite
                integer=column.dtype == "int",
            )
        self.discrete = schema.with_role("categorical", "boolean")
        return self

    def transform(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        for name, stats in self.numeric.items():
            values = pd.to_numeric(df[name], errors="coerce")
            out[f"{name}__missing"] = values.isna().astype(np.int8)
            filled = values.fillna(stats.median).clip(stats.low, stats.high)
            out[name] = (filled - stats.mean) / stats.std
        for name in self.discrete:
            out[name] = df[name].astype("string").fillna(MISSING)
        return out

    def inverse_transform(self, df: pd.DataFrame) -> pd.DataFrame:
        out = df.copy()
        for name, stats in self.numeric.items():
            values = out[name] * stats.std + stats.mean
            if stats.integer:
                values = values.round()
            out[name] = values.mask(out.pop(f"{name}__missing").astype(bool))
        for name in self.discrete:
            out[name] = out[name].replace(MISSING, pd.NA)
        return out

    def to_dict(self) -> dict:
        return {"numeric": {name: asdict(stats) for name, stats in self.numeric.items()}, "discrete": self.discrete}

    @classmethod
    def from_dict(cls, data: dict) -> Preprocessor:
        return cls({name: NumericStats(**stats) for name, stats in data["numeric"].items()}, data["discrete"])
