"""Privacy: distance to the closest record, and a distance-based membership-inference check.

Rows are compared on their tabular columns: numbers scaled by the real range (L1), a differing
level counts 1. The yardstick is real: synthetic rows should sit no closer to the training rows than
new real rows do.

Own code, not sdmetrics' DCR metrics (DCROverfittingProtection measures the same idea with the same
kind of distance): the report also needs each row's second-nearest training row (NNDR) and the
held-out rows' own distances (the DCR ratio, membership inference), and sdmetrics builds a pandas
cross join per chunk where this is one blocked matrix product.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from augment.evaluate.tabular import level_keys, numeric_values

ROWS = 2000  # rows per side: bounded, the search is quadratic


class RowSpace:
    def __init__(self, reference: pd.DataFrame, continuous: list[str], discrete: list[str]):
        self.continuous, self.discrete = continuous, discrete
        self.low = {c: numeric_values(reference[c]).min() for c in continuous}
        self.span = {c: (numeric_values(reference[c]).max() - self.low[c]) or 1.0 for c in continuous}

    def encode(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        numbers = np.column_stack([(numeric_values(df[c]) - self.low[c]) / self.span[c] for c in self.continuous]) \
            if self.continuous else np.zeros((len(df), 0))
        levels = np.column_stack([level_keys(df[c]).fillna("\x00").to_numpy() for c in self.discrete]) \
            if self.discrete else np.zeros((len(df), 0), dtype=object)
        return np.nan_to_num(numbers.astype(float)), levels

    def closest(self, rows: pd.DataFrame, reference: pd.DataFrame, second: bool = False) -> np.ndarray:
        """Each row's distance to its nearest reference row (with `second`: to the nearest two, as
        an (n, 2) array)."""
        ref_numbers, ref_levels = self.encode(reference)
        numbers, levels = self.encode(rows)
        out = np.empty((len(rows), 2))
        for i in range(len(rows)):
            distances = np.abs(ref_numbers - numbers[i]).sum(1) + (ref_levels != levels[i]).sum(1)
            out[i] = np.partition(distances, 1)[:2] if len(distances) > 1 else (distances.min(), np.inf)
        return out if second else out[:, 0]


def measure_privacy(train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, continuous: list[str],
                    discrete: list[str], seed: int) -> dict:
    """`train`: rows the generator saw; `holdout`: real rows it did not see."""
    space = RowSpace(train, continuous, discrete)
    train_s = train.sample(min(ROWS, len(train)), random_state=seed)
    holdout_s = holdout.sample(min(ROWS, len(holdout)), random_state=seed)
    synthetic_s = synthetic.sample(min(ROWS, len(synthetic)), random_state=seed)
    nearest = space.closest(synthetic_s, train_s, second=True)
    synthetic_dcr, holdout_dcr = nearest[:, 0], space.closest(holdout_s, train_s)
    to_holdout = space.closest(synthetic_s, holdout_s)
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
        "dcr_share": float(np.mean(synthetic_dcr < to_holdout) + 0.5 * np.mean(synthetic_dcr == to_holdout)),
        # nearest over second-nearest training row (NNDR): near 0 means a row sits on one training row.
        "nndr_mean_synthetic": float(np.mean(np.divide(nearest[:, 0], nearest[:, 1], out=np.ones(len(nearest)),
                                                       where=nearest[:, 1] > 0))),
        "membership_inference_auc": membership_auc(space, train_s, holdout_s, synthetic_s),
    }


def membership_auc(space: RowSpace, members: pd.DataFrame, others: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """ROC AUC of guessing "was a training row" from closeness to the synthetic rows (0.5: no signal)."""
    from sklearn.metrics import roc_auc_score

    n = min(len(members), len(others), 1000)
    scores = -np.r_[space.closest(members.head(n), synthetic), space.closest(others.head(n), synthetic)]
    return float(roc_auc_score(np.r_[np.ones(n), np.zeros(n)], scores))
