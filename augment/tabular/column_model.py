"""A column drawn from the rest of its row: a classifier of p(column | the other columns), sampled after the GAN.

A GAN learns the joint through a critic that scores whole rows, and the link between one column and
the others is one relation among many: a model trained on the GAN's rows predicted the real target
far worse than one trained on real rows (reports/tabular_suite, ML efficacy). So each column gets a
small network of its own, as synthpop's sequential synthesis does: fit on the train rows, it gives
for each generated row the probability of each class of the column given the row's other columns,
and the column is drawn again from it (the synthesizer's Gibbs sweep, then the target last).

The target's model also reads the row's entity keys, each as its key's target on the train rows
(class shares, or the mean normal score of a number, shrunk toward the whole table's by
KEY_PRIOR_ROWS rows) and its row count: an item's own ratings and a user's own habits are what a
recommender learns, and the GAN, which draws keys from attributes, cannot carry them. The train rows'
own encodings are computed out of fold (KEY_FOLDS), so no row's target is a feature of itself.

A discrete column's classes are its levels. A continuous column's classes are BINS bins of equal
train share (ranks through the column's quantile knots, so a point mass spreads over the bins it
fills); a drawn bin gives a value at a uniform rank inside it. Each number among the features also
enters as a piecewise-linear encoding of its train rank (PIECES pieces; Gorishniy et al., "On
Embeddings for Numerical Features in Tabular Deep Learning", NeurIPS 2022): a small MLP fed one
normal score per number learns smooth functions of it, and California's house value given latitude
and longitude is not smooth. The classifier is fit with a held-out
tenth of the train rows choosing the epoch (log loss), so its probabilities are not over-confident
copies of the train labels, and its output bias is then set so that the classes keep their train
shares on the train rows; `shift` does the same on generated rows (set by the synthesizer's calibration).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm
from torch import nn
from torch.nn import functional as F

from augment.tabular.transformer import (
    ContinuousColumn,
    DataTransformer,
    DiscreteColumn,
    category_key,
    discrete_codes,
    level_bias,
    normalized,
)

BINS = 50  # classes of a continuous column
HIDDEN = 256
EPOCHS = 40  # the most; the held-out log loss picks the epoch
PATIENCE = 4
BATCH = 512  # the most; small tables take smaller batches, so each epoch is about STEPS steps
STEPS = 50
HOLDOUT = 0.1
MIN_ROWS = 200  # fewer train rows and the held-out tenth cannot choose an epoch
KEY_PRIOR_ROWS = 20.0  # a key's target encoding counts the table's as this many rows of its own
KEY_FOLDS = 5
PIECES = 16  # pieces of each number's piecewise-linear input encoding


def classifier(width: int, classes: int) -> nn.Module:
    # No dropout: the held-out tenth choosing the epoch regularizes enough, and on CPU dropout's masks
    # cost a quarter of the fit. The Identity keeps the layer numbering that saved weights are named by.
    return nn.Sequential(nn.Linear(width, HIDDEN), nn.ReLU(), nn.Identity(),
                         nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, classes))


@dataclass
class KeyEncoding:
    """Each key's smoothed target encoding and log row count (`table`, one row per key in `keys`);
    `prior` is the row for a key the train rows never show."""
    column: str
    keys: list[str]  # category_key of each key
    table: np.ndarray  # [keys, target dims + 1]
    prior: np.ndarray

    @classmethod
    def fit(cls, keys: pd.Series, targets: np.ndarray, count_scale: float = 1.0) -> KeyEncoding:
        """From rows' `keys` and their `targets` (one row of encoded target each); `count_scale` scales
        the row counts, so a fold's counts read as the whole table's."""
        codes, uniques = pd.factorize(keys.map(category_key), sort=True)
        counts = np.bincount(codes, minlength=len(uniques)).astype(float)
        sums = np.zeros((len(uniques), targets.shape[1]))
        np.add.at(sums, codes, targets)
        prior = targets.mean(axis=0)
        shrunk = (sums + KEY_PRIOR_ROWS * prior) / (counts + KEY_PRIOR_ROWS)[:, None]
        table = np.column_stack([shrunk, np.log1p(counts * count_scale)])
        return cls(str(keys.name), list(uniques), table.astype(np.float32),
                   np.append(prior, 0.0).astype(np.float32))

    def features(self, keys: pd.Series) -> np.ndarray:
        index = pd.Index(self.keys).get_indexer(keys.map(category_key))
        return np.where((index >= 0)[:, None], self.table[index], self.prior)

    @staticmethod
    def out_of_fold(keys: pd.Series, targets: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Each train row's encoding from the other folds' rows only."""
        fold = rng.integers(KEY_FOLDS, size=len(keys))
        out = np.zeros((len(keys), targets.shape[1] + 1), dtype=np.float32)
        for f in range(KEY_FOLDS):
            held = fold == f
            out[held] = KeyEncoding.fit(keys[~held], targets[~held], KEY_FOLDS / (KEY_FOLDS - 1)).features(keys[held])
        return out


@dataclass
class ColumnModel:
    """p(class of `column` | `features`), the features encoded by `encoder` (the GAN's encoding of them)
    and, for each entity key, `keys`' encodings. `shift` is added to the logits when sampling: the
    synthesizer's calibration sets it so the classes keep their train shares on generated rows."""
    column: ContinuousColumn | DiscreteColumn
    encoder: DataTransformer
    net: nn.Module
    keys: list[KeyEncoding]
    shift: np.ndarray | None = None  # per class; None: zeros (no shift)
    pieces: int = PIECES  # of each number's piecewise-linear encoding; 0: none (models saved before it)

    def __post_init__(self):
        if self.shift is None:
            self.shift = np.zeros(self.classes)

    @property
    def classes(self) -> int:
        return self.column.levels if isinstance(self.column, DiscreteColumn) else BINS

    @property
    def shares(self) -> np.ndarray:
        """Each class's train share: a level's frequency; a bin's 1 / BINS (bins of equal train share)."""
        if isinstance(self.column, DiscreteColumn):
            return np.maximum(normalized(self.column.frequencies), 1e-9)
        return np.full(BINS, 1.0 / BINS)

    @classmethod
    def fit(cls, train: pd.DataFrame, transformer: DataTransformer, column: str, features: list[str],
            keys: list[str], seed: int) -> ColumnModel | None:
        """Fit on `train`: `features` are columns of `transformer`, `keys` entity key columns. None where
        there is nothing to fit (no features, too few rows, a column with nulls or a single value)."""
        values = train[column]
        if not (features or keys) or len(train) < MIN_ROWS or values.isna().any() or values.nunique() < 2:
            return None
        model = cls(transformer.column(column), transformer.subset(features), nn.Identity(), [])
        rng = np.random.default_rng(seed)
        classes, encoded = model._targets(values, rng)
        model.keys = [KeyEncoding.fit(train[key], encoded) for key in keys]
        # The train rows' key encodings leave their own fold out, so no row's value is a feature of itself.
        x = model._inputs(train, rng, keys=[KeyEncoding.out_of_fold(train[key], encoded, rng) for key in keys])
        y = torch.from_numpy(classes)
        order = rng.permutation(len(train))
        held = torch.from_numpy(order[: int(len(train) * HOLDOUT)])
        fit_rows = torch.from_numpy(order[int(len(train) * HOLDOUT) :])
        with torch.random.fork_rng(devices=[]):  # the GAN's own torch stream stays as it was
            torch.manual_seed(seed)
            model.net = classifier(x.shape[1], model.classes)
            model._train(x, y, fit_rows, held, torch.Generator().manual_seed(seed))
        with torch.no_grad():  # the epoch that fits the held-out tenth best also keeps the train shares
            model.net[-1].bias += torch.tensor(level_bias(model.net(x).double().numpy(), model.shares.tolist()),
                                               dtype=torch.float32)
        return model

    def _targets(self, values: pd.Series, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Each value's class (its level, or the bin of its train rank) and what a key's encoding
        averages (the one-hot of the level, or the number's normal score)."""
        if isinstance(self.column, DiscreteColumn):
            codes = discrete_codes(self.column, values)
            return codes, np.eye(self.column.levels)[codes]
        scores = self.column.scores(pd.to_numeric(values).to_numpy(float), rng)
        return np.minimum((norm.cdf(scores) * BINS).astype(np.int64), BINS - 1), scores[:, None]

    def _inputs(self, rows: pd.DataFrame, rng: np.random.Generator, features: np.ndarray | None = None,
                keys: list[np.ndarray] | None = None) -> torch.Tensor:
        """The network's input: `features` (the rows encoded by `encoder`, encoded here when not given)
        and each key's encoding (`keys`, or looked up here)."""
        if features is None:
            features = self.encoder.transform(rows, rng) if self.encoder.order else np.zeros((len(rows), 0))
        keys = keys if keys is not None else [encoding.features(rows[encoding.column]) for encoding in self.keys]
        return torch.from_numpy(np.column_stack([features, *self._pieces(features), *keys]).astype(np.float32))

    @property
    def _number_starts(self) -> list[int]:
        """Where each number's score sits in the encoder's features (the first of its block)."""
        return [start for column, start, _ in self.encoder.blocks() if isinstance(column, ContinuousColumn)]

    @property
    def width(self) -> int:
        """The network's input width: the encoded features, their pieces and the keys' encodings."""
        return self.encoder.width + self.pieces * len(self._number_starts) + sum(len(e.prior) for e in self.keys)

    def _pieces(self, features: np.ndarray) -> list[np.ndarray]:
        """Each number's piecewise-linear encoding: its train rank across `pieces` equal pieces, each
        clipped to [0, 1]."""
        if not self.pieces:
            return []
        ranks = norm.cdf(features[:, self._number_starts])
        return [np.clip(ranks[:, :, None] * self.pieces - np.arange(self.pieces), 0, 1).reshape(len(features), -1)]

    def _train(self, x: torch.Tensor, y: torch.Tensor, fit_rows: torch.Tensor, held: torch.Tensor,
               generator: torch.Generator) -> None:
        optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-3, weight_decay=1e-5)
        best, best_state, stale = np.inf, None, 0
        batch_size = int(np.clip(len(fit_rows) // STEPS, 32, BATCH))
        for _ in range(EPOCHS):
            self.net.train()
            for batch in fit_rows[torch.randperm(len(fit_rows), generator=generator)].split(batch_size):
                loss = F.cross_entropy(self.net(x[batch]), y[batch])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            self.net.eval()
            with torch.no_grad():
                held_loss = F.cross_entropy(self.net(x[held]), y[held]).item()
            if held_loss < best - 1e-4:
                best, stale = held_loss, 0
                best_state = {k: v.clone() for k, v in self.net.state_dict().items()}
            else:
                stale += 1
                if stale >= PATIENCE:
                    break
        self.net.load_state_dict(best_state)
        self.net.eval()

    # ------------------------------------------------------------------------------- sample

    def logits(self, rows: pd.DataFrame, rng: np.random.Generator, features: np.ndarray | None = None) -> np.ndarray:
        """Each row's class logits (with `shift`); `features`: the rows already encoded by `encoder`."""
        with torch.no_grad():
            logits = self.net(self._inputs(rows, rng, features)).double().numpy()
        return logits + self.shift

    def match_shares(self, logits: np.ndarray) -> np.ndarray:
        """Add to `shift` what makes these rows' probabilities, averaged, give each class its train share;
        the logits with it added."""
        bias = np.asarray(level_bias(logits, self.shares.tolist()))
        self.shift = self.shift + bias
        return logits + bias

    def draw_classes(self, logits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A class per row, drawn from softmax(`logits`)."""
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return (rng.random((len(p), 1)) > np.cumsum(p, axis=1)).sum(axis=1).clip(0, p.shape[1] - 1)

    def values(self, classes: np.ndarray, index: pd.Index, rng: np.random.Generator) -> pd.Series:
        """The column's value for each class: the level, or a number at a uniform rank inside the bin."""
        if isinstance(self.column, DiscreteColumn):
            return pd.Series(self.column.values(classes, rng), index=index, dtype=object)
        ranks = (classes + rng.random(len(classes))) / BINS
        values = np.interp(ranks, np.linspace(0, 1, len(self.column.quantiles)), self.column.quantiles)
        return pd.Series(np.round(values) if self.column.integer else values, index=index)

    def draw(self, rows: pd.DataFrame, rng: np.random.Generator) -> pd.Series:
        """A value per row, drawn from its class probabilities given its features."""
        return self.values(self.draw_classes(self.logits(rows, rng), rng), rows.index, rng)

    # ---------------------------------------------------------------------------- save/load

    def state(self) -> dict[str, torch.Tensor]:
        """The network's weights and each key encoding's table, for safetensors."""
        tables = {f"keys.{i}.{name}": torch.from_numpy(np.ascontiguousarray(getattr(encoding, name)))
                  for i, encoding in enumerate(self.keys) for name in ("table", "prior")}
        return {f"net.{k}": v.detach().contiguous() for k, v in self.net.state_dict().items()} | tables

    def to_dict(self) -> dict:
        return {"column": self.column.name, "features": self.encoder.order, "shift": self.shift.tolist(),
                "pieces": self.pieces,
                "keys": [{"column": e.column, "keys": e.keys} for e in self.keys]}

    @classmethod
    def from_parts(cls, meta: dict, transformer: DataTransformer, state: dict[str, torch.Tensor]) -> ColumnModel:
        keys = [KeyEncoding(k["column"], k["keys"], state[f"keys.{i}.table"].numpy(), state[f"keys.{i}.prior"].numpy())
                for i, k in enumerate(meta["keys"])]
        column = transformer.column(meta.get("column", meta.get("target")))  # "target": models saved before the sweep
        model = cls(column, transformer.subset(meta["features"]), nn.Identity(), keys,
                    np.asarray(meta["shift"], dtype=float) if meta.get("shift") else None, meta.get("pieces", 0))
        model.net = classifier(model.width, model.classes)
        model.net.load_state_dict({k[len("net."):]: v for k, v in state.items() if k.startswith("net.")})
        model.net.eval()
        return model
