"""Synthetic rows judged by models of the learner's own real rows: curation and soft targets.

A user with N labelled rows has no better judge of a synthetic row than models fit on those N rows.
An ensemble of such models (the learner fit on bootstrap resamples of the real rows, seeded) reads
every synthetic text; what it says about a row is used two ways:

- curation (CLLM, Seedat et al., ICML 2024): keep a synthetic row only if the ensemble learns it
  consistently: its mean reading lies within the ensemble's own error on real validation rows of
  the row's label (a text that reads like its rating), and the members agree about it (spread at
  most the median spread). CLLM follows checkpoints of one model through training; resamples of
  the real rows stand in for them here, so a learner without epochs (TF-IDF + ridge) works too.
- soft targets (SunGen, FewGen): each synthetic row's target is the ensemble's mean reading,
  which moves a label toward what the text says, by as much as the real rows support; or, milder,
  the label smoothed halfway toward that reading (label smoothing keeps part of the label the
  generator was asked for, as FewGen keeps the class with a smoothing weight).
- noise-robust weighting (after SunGen): a synthetic row is drawn in proportion to how well the
  ensemble's reading agrees with its label (a Gaussian in the label's distance from the reading,
  scaled by the ensemble's validation error), so a likely-noisy row is rare rather than cut out.

Both thresholds come from the real rows (the ensemble's validation error and its spread), not from
the test rows, so nothing is tuned on what the protocol measures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

MEMBERS = 5  # ensemble size: enough for a spread, cheap enough to refit per seed
SMOOTHING = 0.5  # the reading's share of a smoothed label: halfway, trusting neither side over the other


@dataclass
class Readings:
    """The ensemble's reading of every synthetic row, and its own error on real validation rows."""

    predictions: np.ndarray  # [members, synthetic rows]
    validation_rmse: float  # of the ensemble's mean on the real validation rows

    @property
    def mean(self) -> np.ndarray:
        return self.predictions.mean(axis=0)

    @property
    def spread(self) -> np.ndarray:
        return self.predictions.std(axis=0)

    def curated(self, labels: np.ndarray) -> np.ndarray:
        """Rows the ensemble reads within its validation error of `labels` and agrees about."""
        close = np.abs(self.mean - np.asarray(labels, float)) <= self.validation_rmse
        return close & (self.spread <= np.median(self.spread))

    def smoothed(self, labels: np.ndarray) -> np.ndarray:
        """`labels` moved SMOOTHING of the way toward the ensemble's reading."""
        return (1 - SMOOTHING) * np.asarray(labels, float) + SMOOTHING * self.mean

    def agreement(self, labels: np.ndarray) -> np.ndarray:
        """Each row's weight, exp(-d^2 / 2) with d = (label - reading) / the validation error, and at
        least 1e-12 so that every row keeps a chance to be drawn."""
        distance = (np.asarray(labels, float) - self.mean) / max(self.validation_rmse, 1e-6)
        return np.maximum(np.exp(-0.5 * distance ** 2), 1e-12)

    def columns(self, labels: np.ndarray) -> pd.DataFrame:
        """All of the above for rows labelled `labels`, as columns a user's own trainer can take:
        reading, reading_spread, smoothed_target, weight and curated."""
        return pd.DataFrame({"reading": self.mean, "reading_spread": self.spread,
                             "smoothed_target": self.smoothed(labels), "weight": self.agreement(labels),
                             "curated": self.curated(labels)})


def read_synthetic(fit: Callable[[pd.DataFrame, int], object], real: pd.DataFrame, synthetic: pd.DataFrame,
                   validation: pd.DataFrame, seed: int, members: int = MEMBERS) -> Readings:
    """Fit `members` learners on bootstrap resamples of `real` (`fit(table, seed)` returns a fitted
    learner with `predict(texts)`) and read `synthetic` and `validation` texts with each."""
    rng = np.random.default_rng([seed, 7])
    on_synthetic, on_validation = [], []
    for member in range(members):
        resample = real.iloc[rng.integers(len(real), size=len(real))]
        learner = fit(resample, seed * members + member)
        on_synthetic.append(np.asarray(learner.predict(synthetic["text"].tolist()), float))
        on_validation.append(np.asarray(learner.predict(validation["text"].tolist()), float))
    error = np.mean(on_validation, axis=0) - validation["y"].to_numpy(float)
    return Readings(np.array(on_synthetic), float(np.sqrt(np.mean(error ** 2))))
