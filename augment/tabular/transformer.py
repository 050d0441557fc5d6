"""Encoding rows for the GAN and decoding its output back to the original columns.

A continuous column becomes one normal score: its value's rank under the train split's distribution
(traced by up to 1,000 quantile knots, each summarizing at least 10 rows), mapped through the
standard normal quantile. A point mass, such as a cap or a run of zeros, gets a random rank within
its mass, and decoding maps that whole range back to the one value. One score per column lets the
generator express a correlation as a linear map; CTGAN's mode-specific normalization (a Gaussian
mixture's modes as one-hot blocks plus a scalar within the mode) left the generator's columns almost
independent after the same number of steps, and clipped real values beyond 4 standard deviations of
their mode. Missing values get a 2-level flag.
Discrete columns are one-hot, with a level for null when the train split has nulls. Everything is
stored as plain numbers, so a saved model is JSON and safetensors, never a pickle.

After a fit, `calibrate` records how the generator's output is distributed: the quantiles of each
continuous score and a logit bias per discrete level that brings each level to its train share.
Decoding then maps each generated score through its own distribution back onto the train one. This
keeps the generator's joint structure (ranks within a column are unchanged) while every column's
marginal matches the train split, whatever the number of epochs.

A discrete column with more than `max_levels` levels keeps its `max_levels - 1` most common levels
as one-hot levels plus one "other" level; a generated "other" becomes one of the remaining levels,
drawn with its train frequency. So the networks' width is bounded whatever the cardinality: each
kept level's share is modelled exactly and jointly with the other columns, the tail's shares are
kept in the marginal, and only the tail's associations with other columns are lost.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from augment.errors import UserError

MAX_KNOTS = 1000
ROWS_PER_KNOT = 10  # a knot summarizes at least this many train rows, so no knot is one row's value
SCORE_EDGE = 1e-6  # ranks are kept within [SCORE_EDGE, 1 - SCORE_EDGE]: normal scores within about 4.8
CALIBRATION_POINTS = 201
BIAS_ROUNDS = 50
BIAS_LIMIT = 20.0  # a level the generator never writes cannot pull its bias to infinity


@dataclass
class ContinuousColumn:
    """A numeric column as one normal score under the train distribution its quantile knots trace."""
    name: str
    quantiles: list[float]  # train values at evenly spaced probabilities from 0 to 1
    integer: bool
    nullable: bool  # the train split has nulls: a 2-level missing flag follows the score
    datetime: bool = False
    calibration: list[float] = field(default_factory=list)  # generated scores at CALIBRATION_POINTS probabilities

    @property
    def spans(self) -> list[tuple[int, str]]:
        return [(1, "linear"), (2, "softmax")] if self.nullable else [(1, "linear")]

    def scores(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Normal score of each value; a value several knots share (a point mass) gets a random rank in its mass."""
        knots = np.asarray(self.quantiles)
        p = np.linspace(0, 1, len(knots))
        last = len(knots) - 1
        left, right = np.searchsorted(knots, x, side="left"), np.searchsorted(knots, x, side="right")
        lo, hi = np.clip(left - 1, 0, last), np.clip(left, 0, last)
        span = knots[hi] - knots[lo]
        inside = p[lo] + np.divide(x - knots[lo], span, out=np.zeros_like(x), where=span > 0) * (p[hi] - p[lo])
        # knots[left:right] all equal x: any rank between theirs decodes to x exactly
        mass_low, mass_high = p[np.clip(left, 0, last)], p[np.clip(right - 1, 0, last)]
        u = np.where(right > left + 1, mass_low + rng.random(len(x)) * (mass_high - mass_low), inside)
        return norm.ppf(np.clip(u, SCORE_EDGE, 1 - SCORE_EDGE))

    def values(self, scores: np.ndarray) -> np.ndarray:
        """The train-distribution value of each generated score (through the calibration, once fit)."""
        if self.calibration:
            u = np.interp(scores, self.calibration, np.linspace(0, 1, len(self.calibration)))
        else:
            u = norm.cdf(scores)
        return np.interp(u, np.linspace(0, 1, len(self.quantiles)), self.quantiles)


@dataclass
class DiscreteColumn:
    """A discrete column as a one-hot of its most frequent levels plus an "other" level for the tail."""
    name: str
    categories: list  # the modelled levels, JSON values: str, int, float, bool or None (null as a level)
    frequencies: list[float] = field(default_factory=list)  # train share of each level, "other" last
    rest: list = field(default_factory=list)  # the levels folded into "other" (empty: no "other" level)
    rest_frequencies: list[float] = field(default_factory=list)  # their train shares
    bias: list[float] = field(default_factory=list)  # added to the generator's logits, once calibrated

    @property
    def levels(self) -> int:
        """Width of the one-hot: the modelled levels, plus one for "other" when there is a tail."""
        return len(self.categories) + bool(self.rest)

    @property
    def spans(self) -> list[tuple[int, str]]:
        return [(self.levels, "softmax")]

    def values(self, codes: np.ndarray, rng: np.random.Generator) -> list:
        """The value of each level code; "other" draws a tail level with its train frequency."""
        values = [self.categories[c] if c < len(self.categories) else None for c in codes]
        other = np.flatnonzero(np.asarray(codes) == len(self.categories))
        if len(other) and self.rest:
            drawn = rng.choice(len(self.rest), size=len(other), p=normalized(self.rest_frequencies))
            for i, r in zip(other, drawn):
                values[i] = self.rest[r]
        return values

    def lookup(self) -> dict[str, int]:
        """category_key -> level code, tail levels included (they map to "other")."""
        codes = {category_key(c): len(self.categories) for c in self.rest}
        return codes | {category_key(c): i for i, c in enumerate(self.categories)}


class DataTransformer:
    """Rows <-> the networks' matrix: `fit(df, continuous, discrete, seed)`, `transform(df)`, `inverse_transform(x)`."""
    def __init__(self, continuous: list[ContinuousColumn] | None = None, discrete: list[DiscreteColumn] | None = None,
                 order: list[str] | None = None):
        self.continuous = continuous or []
        self.discrete = discrete or []
        self.order = order or []  # column order of the encoded matrix

    # ---------------------------------------------------------------------------------------- fit

    def fit(self, df: pd.DataFrame, continuous: list[str], discrete: list[str],
            max_levels: int = 50) -> DataTransformer:
        self.continuous, self.discrete, self.order = [], [], []
        for name in df.columns:
            if name in continuous:
                self.continuous.append(_fit_continuous(df[name]))
                self.order.append(name)
            elif name in discrete:
                self.discrete.append(_fit_discrete(df[name], max_levels))
                self.order.append(name)
        return self

    # -------------------------------------------------------------------------------- structure

    def column(self, name: str) -> ContinuousColumn | DiscreteColumn:
        for column in (*self.continuous, *self.discrete):
            if column.name == name:
                return column
        raise KeyError(name)

    def subset(self, names: list[str]) -> DataTransformer:
        """The encoding of `names` alone (the same column objects), in this encoding's order."""
        return DataTransformer([c for c in self.continuous if c.name in names],
                               [c for c in self.discrete if c.name in names], [n for n in self.order if n in names])

    @property
    def spans(self) -> list[tuple[int, str]]:
        """(width, activation) of each block of the encoded matrix, in order."""
        return [span for name in self.order for span in self.column(name).spans]

    @property
    def width(self) -> int:
        return sum(width for width, _ in self.spans)

    def blocks(self) -> list[tuple[ContinuousColumn | DiscreteColumn, int, int]]:
        """(column, start, width) of each column's block in the encoded matrix, in order."""
        out, position = [], 0
        for name in self.order:
            column = self.column(name)
            width = sum(w for w, _ in column.spans)
            out.append((column, position, width))
            position += width
        return out

    def discrete_offsets(self) -> dict[str, int]:
        """Where each discrete column's one-hot starts in the encoded matrix."""
        return {column.name: start for column, start, _ in self.blocks() if isinstance(column, DiscreteColumn)}

    # ---------------------------------------------------------------------------- transform

    def positions(self, names: list[str]) -> np.ndarray:
        """The encoded matrix's columns that hold `names`' blocks, in this encoding's order."""
        return np.array([i for column, start, width in self.blocks() if column.name in names
                         for i in range(start, start + width)], dtype=np.int64)

    def transform(self, df: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        return np.concatenate([self.encode(name, df[name], rng) for name in self.order], axis=1).astype(np.float32)

    def encode(self, name: str, values: pd.Series, rng: np.random.Generator) -> np.ndarray:
        """One column's block of the encoded matrix."""
        column = self.column(name)
        if isinstance(column, ContinuousColumn):
            return _encode_continuous(column, values, rng)
        return _one_hot(discrete_codes(column, values), column.levels)

    def inverse_transform(self, matrix: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """Rows from an encoded matrix; `rng` draws the tail level of each "other"."""
        out = {}
        for column, start, width in self.blocks():
            block = matrix[:, start : start + width]
            out[column.name] = _decode_continuous(column, block) if isinstance(column, ContinuousColumn) else \
                pd.Series(column.values(block.argmax(axis=1), rng), dtype=object)
        return pd.DataFrame(out)

    # ---------------------------------------------------------------------------- calibration

    def calibrate(self, raw: np.ndarray | None) -> None:
        """Fit the calibration to the generator's raw output on unconditioned rows (None clears it).

        Continuous: the quantiles of the generated scores, so decoding sends each score's generated
        rank to the same train rank. Discrete: a bias per level, found by fixed-point rounds on the
        generated logits, so the level probabilities average to the train shares (the Gumbel argmax
        draws a level with exactly the softmax probability of the biased logits)."""
        for column, start, width in self.blocks():
            if isinstance(column, ContinuousColumn):
                column.calibration = [] if raw is None else np.maximum.accumulate(
                    np.quantile(raw[:, start], np.linspace(0, 1, CALIBRATION_POINTS))).tolist()
            else:
                column.bias = [] if raw is None else level_bias(raw[:, start : start + width], column.frequencies)

    def rebalance(self, drawn: np.ndarray) -> None:
        """Shift each discrete level's bias by the log ratio of its train share to its share among the
        `drawn` rows (activated, one-hot). For when rows are kept or drawn again by their levels: the
        kept rows' logits then no longer predict their levels, so `calibrate` alone misses the shares."""
        smoothing = 0.5 / max(len(drawn), 1)  # a level never drawn moves by a bounded step
        for column, start, width in self.blocks():
            if isinstance(column, DiscreteColumn) and column.bias:
                ratio = (normalized(column.frequencies) + smoothing) / (drawn[:, start : start + width].mean(axis=0) + smoothing)
                column.bias = np.clip(np.asarray(column.bias) + np.log(ratio), -BIAS_LIMIT, BIAS_LIMIT).tolist()

    def logit_bias(self) -> np.ndarray:
        """The calibration's bias for the whole raw output row (zero outside discrete blocks)."""
        bias = np.zeros(self.width, dtype=np.float32)
        for column, start, width in self.blocks():
            if isinstance(column, DiscreteColumn) and column.bias:
                bias[start : start + width] = column.bias
        return bias

    # ---------------------------------------------------------------------------- save/load

    def to_dict(self) -> dict:
        return {
            "order": self.order,
            "continuous": [asdict(c) for c in self.continuous],
            "discrete": [asdict(d) for d in self.discrete],
        }

    @classmethod
    def from_dict(cls, data: dict) -> DataTransformer:
        if any("quantiles" not in column for column in data["continuous"]):
            raise UserError("the run's tabular model encodes numbers the old way (Gaussian mixtures); fit it again: "
                            "python -m augment fit DATA --out RUN --stage tabular")
        return cls(
            [ContinuousColumn(**c) for c in data["continuous"]],
            [DiscreteColumn(**d) for d in data["discrete"]],
            data["order"],
        )


def category_key(value) -> str:
    """How a discrete value is matched: 3, 3.0 and '3' are one level; null is its own."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "\x00null"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def discrete_codes(column: DiscreteColumn, values: pd.Series) -> np.ndarray:
    """Level code of each value (a tail value is "other"); unseen values map to the most common level."""
    lookup = column.lookup()
    fallback = int(np.argmax(column.frequencies)) if column.frequencies else 0
    return np.array([lookup.get(category_key(v), fallback) for v in values], dtype=np.int64)


def _fit_discrete(values: pd.Series, max_levels: int) -> DiscreteColumn:
    keys = values.map(category_key)
    counts = keys.value_counts()
    first_value = {k: v for v, k in zip(values.tolist()[::-1], keys.tolist()[::-1])}  # a real value per key
    ranked = sorted(counts.index, key=lambda k: (-counts[k], k))  # most common first, ties by key
    kept, tail = (ranked, []) if len(ranked) <= max_levels else (ranked[: max_levels - 1], ranked[max_levels - 1 :])
    kept, tail = sorted(kept), sorted(tail)

    def value(k):
        return json_value(first_value[k]) if k != "\x00null" else None

    shares = counts / counts.sum()
    frequencies = [float(shares[k]) for k in kept] + ([float(shares[tail].sum())] if tail else [])
    return DiscreteColumn(str(values.name), [value(k) for k in kept], frequencies,
                          [value(k) for k in tail], [float(shares[k]) for k in tail])


def json_value(value):
    """A value as JSON keeps it: numpy scalars as Python ones, timestamps as ISO text."""
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _fit_continuous(values: pd.Series) -> ContinuousColumn:
    is_datetime = pd.api.types.is_datetime64_any_dtype(values)
    numbers = to_numbers(values)
    present = numbers[~np.isnan(numbers)]
    knots = int(np.clip(len(present) // ROWS_PER_KNOT, 1, MAX_KNOTS))
    return ContinuousColumn(
        name=str(values.name),
        quantiles=np.quantile(present, np.linspace(0, 1, knots + 1)).tolist(),
        integer=bool(not is_datetime and np.all(np.mod(present, 1) == 0)),
        nullable=bool(np.isnan(numbers).any()),
        datetime=is_datetime,
    )


def to_numbers(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("int64").where(values.notna()).to_numpy(dtype=float) / 1e9
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def _encode_continuous(column: ContinuousColumn, values: pd.Series, rng: np.random.Generator) -> np.ndarray:
    x = to_numbers(values)
    missing = np.isnan(x)
    blocks = [column.scores(np.where(missing, column.quantiles[len(column.quantiles) // 2], x), rng)[:, None]]
    if column.nullable:
        blocks.append(_one_hot(missing.astype(np.int64), 2))
    return np.concatenate(blocks, axis=1)


def _decode_continuous(column: ContinuousColumn, block: np.ndarray) -> pd.Series:
    x = column.values(block[:, 0].astype(float))
    if column.integer:
        x = np.round(x)
    series = pd.Series(x)
    if column.nullable:
        series[block[:, 1:].argmax(axis=1) == 1] = np.nan
    if column.datetime:
        return pd.to_datetime(series * 1e9)
    if column.integer:
        return series.astype("Int64") if column.nullable else series.astype(np.int64)
    return series


def level_bias(logits: np.ndarray, frequencies: list[float]) -> list[float]:
    """A bias per level such that softmax(logits + bias), averaged over the rows, gives `frequencies`."""
    logits = logits.astype(float)
    odds = np.exp(logits - logits.max(axis=1, keepdims=True))  # softmax(l + b) = odds * e^b / (odds @ e^b)
    target, bias = np.log(normalized(frequencies)), np.zeros(logits.shape[1])
    for _ in range(BIAS_ROUNDS):
        weights = np.exp(bias)
        generated = weights * (odds.T @ (1.0 / (odds @ weights))) / len(odds)
        bias = np.clip(bias + target - np.log(np.maximum(generated, 1e-12)), -BIAS_LIMIT, BIAS_LIMIT)
    return bias.tolist()


def normalized(frequencies: list[float]) -> np.ndarray:
    """Shares that sum to exactly 1, as numpy's choice needs."""
    p = np.asarray(frequencies, dtype=float)
    return p / p.sum()


def _one_hot(codes: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((len(codes), width), dtype=np.float32)
    out[np.arange(len(codes)), codes] = 1.0
    return out
