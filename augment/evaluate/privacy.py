"""Privacy: distance to the closest record, and a distance-based membership-inference check.

Rows are compared on their tabular columns: numbers scaled by the real range (L1), a differing
level counts 1. The yardstick is real: synthetic rows should sit no closer to the training rows than
new real rows do.

Own code, not sdmetrics' DCR metrics (DCROverfittingProtection measures the same idea with the same
kind of distance): the report also needs each row's second-nearest training row (NNDR) and the
held-out rows' own distances (the DCR ratio, membership inference), and sdmetrics builds a pandas
cross join per chunk where this compares blocks of integer-coded rows in numpy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from augment.evaluate.tabular import level_keys, numeric_values

ROWS = 2000  # synthetic and held-out rows measured: bounded, each is compared with every training row
BLOCK = 20_000_000  # distance-matrix cells computed at once (about 160 MB of float64)


class RowSpace:
    """Rows as points: numbers scaled by the reference's range (L1 distance), levels as integer
    codes (a differing level counts 1; a level seen in no table before gets its own code)."""

    def __init__(self, reference: pd.DataFrame, continuous: list[str], discrete: list[str]):
        self.continuous, self.discrete = continuous, discrete
        self.low = {c: numeric_values(reference[c]).min() for c in continuous}
        self.span = {c: (numeric_values(reference[c]).max() - self.low[c]) or 1.0 for c in continuous}
        self.codes: dict[str, dict] = {c: {} for c in discrete}

    def encode(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        numbers = np.column_stack([(numeric_values(df[c]) - self.low[c]) / self.span[c] for c in self.continuous]) \
            if self.continuous else np.zeros((len(df), 0))
        levels = np.column_stack([self._codes(c, df[c]) for c in self.discrete]) \
            if self.discrete else np.zeros((len(df), 0), dtype=np.int64)
        return np.nan_to_num(numbers.astype(float)), levels

    def _codes(self, column: str, values: pd.Series) -> np.ndarray:
        keys = level_keys(values).fillna("\x00")
        table = self.codes[column]
        for key in pd.unique(keys):
            table.setdefault(key, len(table))
        return keys.map(table).to_numpy(np.int64)

    def closest(self, rows: pd.DataFrame, reference: pd.DataFrame) -> np.ndarray:
        """Each row's distance to its nearest reference row."""
        return self.nearest_two(self.encode(rows), self.encode(reference))[:, 0]

    def nearest_two(self, rows: tuple[np.ndarray, np.ndarray], reference: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Encoded rows' distances to their nearest two encoded reference rows, as an (n, 2) array
        (the second is inf for a one-row reference)."""
        (numbers, levels), (ref_numbers, ref_levels) = rows, reference
        out = np.full((len(numbers), 2), np.inf)
        width = max(1, ref_numbers.shape[1] + ref_levels.shape[1])
        block = max(1, BLOCK // max(1, len(ref_numbers) * width))
        for start in range(0, len(numbers), block):
            stop = start + block
            distances = np.abs(numbers[start:stop, None, :] - ref_numbers[None]).sum(2) \
                + (levels[start:stop, None, :] != ref_levels[None]).sum(2)
            if len(ref_numbers) > 1:
                out[start:stop] = np.partition(distances, 1, axis=1)[:, :2]
            else:
                out[start:stop, 0] = distances[:, 0]
        return out


def measure_privacy(train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, continuous: list[str],
                    discrete: list[str], seed: int) -> dict:
    """`train`: rows the generator saw; `holdout`: real rows it did not see.

    Distances to the closest record are to every training row, so a copy of any of them is found.
    The DCR share compares equal-size samples of training and held-out rows, as mostlyai-qa does:
    a bigger side would be closer by its size alone."""
    space = RowSpace(train, continuous, discrete)
    holdout_s = holdout.sample(min(ROWS, len(holdout)), random_state=seed)
    synthetic_s = synthetic.sample(min(ROWS, len(synthetic)), random_state=seed)
    train_points = space.encode(train)  # the largest table, encoded once
    nearest = space.nearest_two(space.encode(synthetic_s), train_points)
    synthetic_dcr, holdout_dcr = nearest[:, 0], space.nearest_two(space.encode(holdout_s), train_points)[:, 0]
    same_size = min(len(train), len(holdout))
    to_train = space.closest(synthetic_s, train.sample(same_size, random_state=seed))
    to_holdout = space.closest(synthetic_s, holdout.sample(same_size, random_state=seed))
    # Means, not medians: with few columns many real rows have an exact twin, and the median is 0.
    ratio = float(synthetic_dcr.mean() / holdout_dcr.mean()) if holdout_dcr.mean() > 0 else float("nan")
    return {
        "dcr_mean_synthetic": float(synthetic_dcr.mean()),
        "dcr_mean_real_holdout": float(holdout_dcr.mean()),
        "dcr_ratio": ratio,
        "tabular_twin_share_synthetic": float(np.mean(synthetic_dcr == 0)),
        "tabular_twin_share_real_holdout": float(np.mean(holdout_dcr == 0)),
        # mostlyai-qa's DCR share: synthetic rows closer to a training row than to a held-out one
        # (ties split); about half when the generator learned the distribution, not the rows.
        "dcr_share": float(np.mean(to_train < to_holdout) + 0.5 * np.mean(to_train == to_holdout)),
        # nearest over second-nearest training row (NNDR): near 0 means a row sits on one training row.
        "nndr_mean_synthetic": float(np.mean(np.divide(nearest[:, 0], nearest[:, 1], out=np.ones(len(nearest)),
                                                       where=np.isfinite(nearest[:, 1]) & (nearest[:, 1] > 0)))),
        "membership_inference_auc": membership_auc(space, train.sample(min(ROWS, len(train)), random_state=seed),
                                                   holdout_s, synthetic_s),
    }


def membership_auc(space: RowSpace, members: pd.DataFrame, others: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """ROC AUC of guessing "was a training row" from closeness to the synthetic rows (0.5: no signal)."""
    from sklearn.metrics import roc_auc_score

    n = min(len(members), len(others), 1000)
    scores = -np.r_[space.closest(members.head(n), synthetic), space.closest(others.head(n), synthetic)]
    return float(roc_auc_score(np.r_[np.ones(n), np.zeros(n)], scores))
