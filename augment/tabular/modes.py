"""Modes of the numbers' joint: k-means regions that the GAN models as one more discrete column.

A generator maps continuous noise to continuous outputs, so a joint whose mass lies on a thin or
broken shape (California's latitude x longitude follows the coast and its cities) comes out as a
smoothed blob, and a strong detector tells it apart. `Modes` labels each train row with its k-means
region over the continuous columns' normal scores; the label is one more discrete column of the
networks (MODE_COLUMN), so training by sampling conditions on every region, the critic sees region
and numbers together, and each region's numbers are a smaller blob to fit. CTGAN's mode-specific
normalization finds modes per column; these are modes of the joint. Sampled rows drop the column.
reports/tabular_modes compares the fit with and without them (they need epochs to pay).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from augment.tabular.transformer import to_numbers

MODE_COLUMN = "\x00mode"  # no input column can carry this name: it never collides
MIN_ROWS_PER_MODE = 50  # fewer train rows per region and a region is a handful of rows to copy


@dataclass
class Modes:
    """k-means centres over the normal scores of `columns` (at least two continuous columns)."""
    columns: list[str]
    centers: list[list[float]]

    @classmethod
    def fit(cls, train: pd.DataFrame, columns: list[str], k: int, seed: int) -> Modes | None:
        """The regions of `train`'s continuous `columns`; None where there is no joint to split
        (fewer than two columns) or too few rows for two regions."""
        from sklearn.cluster import KMeans

        k = min(k, len(train) // MIN_ROWS_PER_MODE)
        if len(columns) < 2 or k < 2:
            return None
        fitted = KMeans(k, n_init=3, random_state=seed).fit(_normal_scores(train, columns))
        return cls(list(columns), fitted.cluster_centers_.tolist())

    def label(self, rows: pd.DataFrame) -> np.ndarray:
        """Each row's region: the nearest centre to its normal scores among `rows`."""
        from sklearn.metrics import pairwise_distances_argmin

        return pairwise_distances_argmin(_normal_scores(rows, self.columns), np.asarray(self.centers))


def _normal_scores(rows: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Each value's rank among `rows` through the standard normal quantile; a missing value scores 0."""
    scores = []
    for name in columns:
        x = to_numbers(rows[name])
        present = ~np.isnan(x)
        score = np.zeros(len(x))
        score[present] = norm.ppf(rankdata(x[present]) / (present.sum() + 1))
        scores.append(score)
    return np.column_stack(scores)
