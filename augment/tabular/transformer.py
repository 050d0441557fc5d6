"""Encoding rows for the GAN and decoding its output back to the original columns.

Continuous columns get CTGAN's mode-specific normalization: a Bayesian Gaussian mixture per column,
fit on a bounded subsample (SDV users see this step hang on large tables), then each value becomes
a scalar in [-1, 1] within its mode plus a one-hot of the mode. Discrete columns are one-hot, with
a level for null when the train split has nulls. Mixture parameters are stored as plain numbers,
so a saved model is JSON and safetensors, never a pickle.

A discrete column with more than `max_levels` levels keeps its `max_levels - 1` most common levels
as one-hot levels plus one "other" level; a generated "other" becomes one of the remaining levels,
drawn with its train frequency. So the networks' width is bounded whatever the cardinality: each
kept level's share is modelled exactly and jointly with the other columns, the tail's shares are
kept in the marginal, and only the tail's associations with other columns are lost.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture

MAX_MODES = 10
MODE_WEIGHT_FLOOR = 0.005
ALPHA_SCALE = 4.0  # a value within 4 standard deviations of its mode maps into (-1, 1)


@dataclass
class ContinuousColumn:
    """A numeric column as a mode-specific normalization: Gaussian mixture modes, then a scalar in its mode."""
    name: str
    means: list[float]
    stds: list[float]
    weights: list[float]
    low: float
    high: float
    integer: bool
    nullable: bool  # the train split has nulls: a 2-level missing flag follows the mode one-hot
    datetime: bool = False

    @property
    def spans(self) -> list[tuple[int, str]]:
        spans = [(1, "tanh"), (len(self.means), "softmax")]
        return spans + [(2, "softmax")] if self.nullable else spans


@dataclass
class DiscreteColumn:
    """A discrete column as a one-hot of its most frequent levels plus an "other" level for the tail."""
    name: str
    categories: list  # the modelled levels, JSON values: str, int, float, bool or None (null as a level)
    frequencies: list[float] = field(default_factory=list)  # train share of each level, "other" last
    rest: list = field(default_factory=list)  # the levels folded into "other" (empty: no "other" level)
    rest_frequencies: list[float] = field(default_factory=list)  # their train shares

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

    def fit(self, df: pd.DataFrame, continuous: list[str], discrete: list[str], seed: int,
            mixture_rows: int = 5000, max_levels: int = 50) -> DataTransformer:
        rng = np.random.default_rng(seed)
        self.continuous, self.discrete, self.order = [], [], []
        for name in df.columns:
            if name in continuous:
                self.continuous.append(_fit_continuous(df[name], rng, mixture_rows))
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

    @property
    def spans(self) -> list[tuple[int, str]]:
        """(width, activation) of each block of the encoded matrix, in order."""
        return [span for name in self.order for span in self.column(name).spans]

    @property
    def width(self) -> int:
        return sum(width for width, _ in self.spans)

    def discrete_offsets(self) -> dict[str, int]:
        """Where each discrete column's one-hot starts in the encoded matrix."""
        offsets, position = {}, 0
        for name in self.order:
            column = self.column(name)
            if isinstance(column, DiscreteColumn):
                offsets[name] = position
            position += sum(width for width, _ in column.spans)
        return offsets

    # ---------------------------------------------------------------------------- transform

    def transform(self, df: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        blocks = []
        for name in self.order:
            column = self.column(name)
            if isinstance(column, ContinuousColumn):
                blocks.append(_encode_continuous(column, df[name], rng))
            else:
                blocks.append(_one_hot(discrete_codes(column, df[name]), column.levels))
        return np.concatenate(blocks, axis=1).astype(np.float32)

    def inverse_transform(self, matrix: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
        """Rows from an encoded matrix; `rng` draws the tail level of each "other"."""
        out, position = {}, 0
        for name in self.order:
            column = self.column(name)
            width = sum(w for w, _ in column.spans)
            block = matrix[:, position : position + width]
            position += width
            out[name] = _decode_continuous(column, block) if isinstance(column, ContinuousColumn) else \
                pd.Series(column.values(block.argmax(axis=1), rng), dtype=object)
        return pd.DataFrame(out)

    # ---------------------------------------------------------------------------- save/load

    def to_dict(self) -> dict:
        return {
            "order": self.order,
            "continuous": [asdict(c) for c in self.continuous],
            "discrete": [asdict(d) for d in self.discrete],
        }

    @classmethod
    def from_dict(cls, data: dict) -> DataTransformer:
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
        return _plain(first_value[k]) if k != "\x00null" else None

    shares = counts / counts.sum()
    frequencies = [float(shares[k]) for k in kept] + ([float(shares[tail].sum())] if tail else [])
    return DiscreteColumn(str(values.name), [value(k) for k in kept], frequencies,
                          [value(k) for k in tail], [float(shares[k]) for k in tail])


def _plain(value):
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _fit_continuous(values: pd.Series, rng: np.random.Generator, mixture_rows: int) -> ContinuousColumn:
    is_datetime = pd.api.types.is_datetime64_any_dtype(values)
    numbers = _to_numbers(values)
    present = numbers[~np.isnan(numbers)]
    sample = present if len(present) <= mixture_rows else rng.choice(present, mixture_rows, replace=False)
    means, stds, weights = _mixture(sample, int(rng.integers(2**31 - 1)))
    return ContinuousColumn(
        name=str(values.name),
        means=means,
        stds=stds,
        weights=weights,
        low=float(present.min()),
        high=float(present.max()),
        integer=bool(not is_datetime and np.all(np.mod(present, 1) == 0)),
        nullable=bool(np.isnan(numbers).any()),
        datetime=is_datetime,
    )


def _mixture(sample: np.ndarray, seed: int) -> tuple[list[float], list[float], list[float]]:
    spread = float(sample.std())
    if len(np.unique(sample)) < 2 or spread == 0:
        return [float(sample.mean())], [max(spread, 1e-3)], [1.0]
    with warnings.catch_warnings():  # an unconverged mixture on a bounded sample is still a fine encoding
        warnings.simplefilter("ignore", ConvergenceWarning)
        gmm = BayesianGaussianMixture(
            n_components=min(MAX_MODES, len(np.unique(sample))),
            weight_concentration_prior_type="dirichlet_process",
            weight_concentration_prior=0.001,
            max_iter=100,
            random_state=seed,
        ).fit(sample.reshape(-1, 1))
    keep = gmm.weights_ > MODE_WEIGHT_FLOOR
    means = gmm.means_.ravel()[keep]
    stds = np.sqrt(gmm.covariances_.ravel()[keep])
    weights = gmm.weights_[keep] / gmm.weights_[keep].sum()
    floor = spread * 1e-3  # a mode on one repeated value would have zero width
    return means.tolist(), np.maximum(stds, floor).tolist(), weights.tolist()


def _to_numbers(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("int64").where(values.notna()).to_numpy(dtype=float) / 1e9
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def _encode_continuous(column: ContinuousColumn, values: pd.Series, rng: np.random.Generator) -> np.ndarray:
    x = _to_numbers(values)
    missing = np.isnan(x)
    means, stds, weights = (np.asarray(v) for v in (column.means, column.stds, column.weights))
    filled = np.where(missing, means[np.argmax(weights)], x)
    # Posterior of each mode; the mode is drawn from it (as CTGAN does), so modes overlap smoothly.
    log_density = -0.5 * ((filled[:, None] - means) / stds) ** 2 - np.log(stds) + np.log(weights)
    posterior = np.exp(log_density - log_density.max(axis=1, keepdims=True))
    posterior /= posterior.sum(axis=1, keepdims=True)
    modes = (posterior.cumsum(axis=1) > rng.random((len(x), 1))).argmax(axis=1)
    alpha = np.clip((filled - means[modes]) / (ALPHA_SCALE * stds[modes]), -0.99, 0.99)
    blocks = [alpha[:, None], _one_hot(modes, len(means))]
    if column.nullable:
        blocks.append(_one_hot(missing.astype(np.int64), 2))
    return np.concatenate(blocks, axis=1)


def _decode_continuous(column: ContinuousColumn, block: np.ndarray) -> pd.Series:
    n_modes = len(column.means)
    modes = block[:, 1 : 1 + n_modes].argmax(axis=1)
    alpha = np.clip(block[:, 0], -1, 1)
    x = alpha * ALPHA_SCALE * np.asarray(column.stds)[modes] + np.asarray(column.means)[modes]
    x = np.clip(x, column.low, column.high)
    if column.integer:
        x = np.round(x)
    series = pd.Series(x)
    if column.nullable:
        series[block[:, 1 + n_modes :].argmax(axis=1) == 1] = np.nan
    if column.datetime:
        return pd.to_datetime(series * 1e9)
    if column.integer:
        return series.astype("Int64") if column.nullable else series.astype(np.int64)
    return series


def normalized(frequencies: list[float]) -> np.ndarray:
    """Shares that sum to exactly 1, as numpy's choice needs."""
    p = np.asarray(frequencies, dtype=float)
    return p / p.sum()


def _one_hot(codes: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((len(codes), width), dtype=np.float32)
    out[np.arange(len(codes)), codes] = 1.0
    return out
