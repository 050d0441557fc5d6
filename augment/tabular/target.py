"""The target drawn from the row: a classifier of p(target | the other columns), sampled after the GAN.

A GAN learns the joint through a critic that scores whole rows, and the link between the target and
the other columns is one relation among many: a model trained on the GAN's rows predicted the real
target far worse than one trained on real rows (reports/tabular_suite, ML efficacy). Downstream
models learn exactly that link, so it is fit on its own, as synthpop's sequential synthesis does for
every column: a small network fit on the train rows gives, for each generated row, the probability
of each target class given the row's other columns, and the row's target is drawn from it.

The row's entity keys are features too, each as its key's target on the train rows (class shares, or
the mean normal score of a number, shrunk toward the whole table's by KEY_PRIOR_ROWS rows) and its
row count: an item's own ratings and a user's own habits are what a recommender learns, and the
GAN, which draws keys from attributes, cannot carry them. The train rows' own encodings are
computed out of fold (KEY_FOLDS), so no row's target is a feature of itself.

A discrete target's classes are its levels. A continuous target's classes are BINS bins of equal
train share (ranks through the column's quantile knots, so a point mass spreads over the bins it
fills); a drawn bin gives a value at a uniform rank inside it. Rows whose target was conditioned on
or balanced keep it. The classifier is fit with a held-out tenth of the train rows choosing the
epoch (log loss), so its probabilities are not over-confident copies of the train labels, and its
output bias is then set so that the classes keep their train shares.
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
)

BINS = 50  # classes of a continuous target
HIDDEN = 256
EPOCHS = 40  # the most; the held-out log loss picks the epoch
PATIENCE = 4
BATCH = 512  # the most; small tables take smaller batches, so each epoch is about STEPS steps
STEPS = 50
HOLDOUT = 0.1
MIN_ROWS = 200  # fewer train rows and the held-out tenth cannot choose an epoch
KEY_PRIOR_ROWS = 20.0  # a key's target encoding counts the table's as this many rows of its own
KEY_FOLDS = 5


def classifier(width: int, classes: int) -> nn.Module:
    return nn.Sequential(nn.Linear(width, HIDDEN), nn.ReLU(), nn.Dropout(0.2),
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
class TargetModel:
    """p(target class | `features`), the features encoded by `encoder` (the GAN's encoding of them)
    and, for each entity key, `keys`' encodings."""
    target: ContinuousColumn | DiscreteColumn
    encoder: DataTransformer
    net: nn.Module
    keys: list[KeyEncoding]

    @property
    def classes(self) -> int:
        return self.target.levels if isinstance(self.target, DiscreteColumn) else BINS

    @classmethod
    def fit(cls, train: pd.DataFrame, transformer: DataTransformer, target: str, features: list[str],
            keys: list[str], seed: int) -> TargetModel | None:
        """Fit on `train`: `features` are columns of `transformer`, `keys` entity key columns. None where
        there is nothing to fit (no features, too few rows, a target with nulls or a single value)."""
        values = train[target]
        if not (features or keys) or len(train) < MIN_ROWS or values.isna().any() or values.nunique() < 2:
            return None
        model = cls(transformer.column(target), transformer.subset(features), nn.Identity(), [])
        rng = np.random.default_rng(seed)
        encoded = model._encoding_targets(values, rng)
        model.keys = [KeyEncoding.fit(train[key], encoded) for key in keys]
        x = torch.from_numpy(np.column_stack([
            model.encoder.transform(train, rng) if features else np.zeros((len(train), 0), np.float32),
            *[KeyEncoding.out_of_fold(train[key], encoded, rng) for key in keys]]).astype(np.float32))
        y = torch.from_numpy(model._classes(values, rng))
        order = rng.permutation(len(train))
        held = torch.from_numpy(order[: int(len(train) * HOLDOUT)])
        fit_rows = torch.from_numpy(order[int(len(train) * HOLDOUT) :])
        with torch.random.fork_rng(devices=[]):  # the GAN's own torch stream stays as it was
            torch.manual_seed(seed)
            model.net = classifier(x.shape[1], model.classes)
            model._train(x, y, fit_rows, held, torch.Generator().manual_seed(seed))
        model._match_shares(x, y)
        return model

    def _classes(self, values: pd.Series, rng: np.random.Generator) -> np.ndarray:
        """Each value's class: its level, or the bin of its train rank."""
        if isinstance(self.target, DiscreteColumn):
            return discrete_codes(self.target, values)
        ranks = norm.cdf(self.target.scores(pd.to_numeric(values).to_numpy(float), rng))
        return np.minimum((ranks * BINS).astype(np.int64), BINS - 1)

    def _encoding_targets(self, values: pd.Series, rng: np.random.Generator) -> np.ndarray:
        """What a key's encoding averages: the one-hot of a level, or a number's normal score."""
        if isinstance(self.target, DiscreteColumn):
            return np.eye(self.target.levels)[discrete_codes(self.target, values)]
        return self.target.scores(pd.to_numeric(values).to_numpy(float), rng)[:, None]

    def _inputs(self, rows: pd.DataFrame, rng: np.random.Generator) -> torch.Tensor:
        parts = [self.encoder.transform(rows, rng)] if self.encoder.order else []
        parts += [encoding.features(rows[encoding.column]) for encoding in self.keys]
        return torch.from_numpy(np.column_stack(parts).astype(np.float32))

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

    def _match_shares(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Shift the output bias so the probabilities averaged over the train rows give each class its
        train share: the epoch that fits the held-out tenth best also fits its class shares."""
        with torch.no_grad():
            logits = self.net(x).double().numpy()
            shares = np.maximum(np.bincount(y.numpy(), minlength=self.classes) / len(y), 1e-9)  # a bin may be empty
            self.net[-1].bias += torch.tensor(level_bias(logits, shares.tolist()), dtype=torch.float32)

    def probabilities(self, rows: pd.DataFrame, rng: np.random.Generator) -> np.ndarray:
        """Each row's probability of each target class, given its features."""
        with torch.no_grad():
            logits = self.net(self._inputs(rows, rng))
        return F.softmax(logits.double(), dim=1).numpy()

    def draw(self, rows: pd.DataFrame, rng: np.random.Generator) -> pd.Series:
        """A target value per row, drawn from its class probabilities."""
        p = self.probabilities(rows, rng)
        classes = (rng.random((len(p), 1)) > np.cumsum(p, axis=1)).sum(axis=1).clip(0, p.shape[1] - 1)
        if isinstance(self.target, DiscreteColumn):
            return pd.Series(self.target.values(classes, rng), index=rows.index, dtype=object)
        ranks = (classes + rng.random(len(classes))) / BINS
        values = np.interp(ranks, np.linspace(0, 1, len(self.target.quantiles)), self.target.quantiles)
        return pd.Series(np.round(values) if self.target.integer else values, index=rows.index)

    # ---------------------------------------------------------------------------- save/load

    def state(self) -> dict[str, torch.Tensor]:
        """The network's weights and each key encoding's table, for safetensors."""
        tables = {f"keys.{i}.{name}": torch.from_numpy(np.ascontiguousarray(getattr(encoding, name)))
                  for i, encoding in enumerate(self.keys) for name in ("table", "prior")}
        return {f"net.{k}": v.detach().contiguous() for k, v in self.net.state_dict().items()} | tables

    def to_dict(self) -> dict:
        return {"target": self.target.name, "features": self.encoder.order,
                "keys": [{"column": e.column, "keys": e.keys} for e in self.keys]}

    @classmethod
    def from_parts(cls, meta: dict, transformer: DataTransformer, state: dict[str, torch.Tensor]) -> TargetModel:
        keys = [KeyEncoding(k["column"], k["keys"], state[f"keys.{i}.table"].numpy(), state[f"keys.{i}.prior"].numpy())
                for i, k in enumerate(meta["keys"])]
        model = cls(transformer.column(meta["target"]), transformer.subset(meta["features"]), nn.Identity(), keys)
        width = model.encoder.width + sum(len(e.prior) for e in keys)
        model.net = classifier(width, model.classes)
        model.net.load_state_dict({k[len("net."):]: v for k, v in state.items() if k.startswith("net.")})
        model.net.eval()
        return model
