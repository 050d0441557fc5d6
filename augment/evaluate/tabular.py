"""Tabular fidelity scored the way SDMetrics' QualityReport scores it, fast enough to run every epoch.

Column shapes: KS complement for continuous columns, total-variation complement for discrete ones.
Column pair trends: correlation similarity (Pearson) for two continuous columns, contingency
similarity otherwise, a continuous column binned into 10 histogram bins of its own data. As in
sdmetrics (0.2x and later), a pair counts only if the real data shows a trend to keep: |Pearson r| above
0.5, or Cramér's V above 0.3. Quality is the mean of the two properties. All in [0, 1], higher is
better; tests check agreement with sdmetrics' QualityReport.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp
from scipy.stats.contingency import association

KS_DECIMALS = 9  # sdmetrics rounds to this many decimals before the KS test
REAL_CORRELATION_THRESHOLD = 0.5
REAL_ASSOCIATION_THRESHOLD = 0.3


@dataclass
class QualityScores:
    quality: float
    shapes: float
    pair_trends: float
    column_shapes: dict[str, float]
    pairs: dict[tuple[str, str], float]  # (a, b) -> score, for the pairs that show a trend in the real data

    def to_dict(self) -> dict:
        return {
            "quality": self.quality,
            "column_shapes": self.shapes,
            "column_pair_trends": self.pair_trends,
            "per_column": self.column_shapes,
            # a list, not "a | b" keys: column names may hold any text
            "per_pair": [{"columns": [a, b], "score": score} for (a, b), score in self.pairs.items()],
        }


def ks_complement(real: pd.Series, synthetic: pd.Series) -> float:
    real, synthetic = numeric_values(real).dropna(), numeric_values(synthetic).dropna()
    if real.empty:
        return float("nan")  # nothing to reproduce
    if synthetic.empty:
        return 0.0  # real values, and not one synthetic value: scored as the worst shape, never left out
    statistic = ks_2samp(real.round(KS_DECIMALS), synthetic.round(KS_DECIMALS)).statistic
    return float(1 - statistic)


def tv_complement(real: pd.Series, synthetic: pd.Series) -> float:
    real, synthetic = real.dropna(), synthetic.dropna()
    if real.empty:
        return float("nan")
    if synthetic.empty:
        return 0.0  # as in ks_complement: an empty synthetic column scores, and scores worst
    p = real.value_counts(normalize=True)
    q = synthetic.value_counts(normalize=True)
    p, q = p.align(q, fill_value=0.0)
    return float(1 - 0.5 * np.abs(p - q).sum())


def correlation_similarity(real: pd.DataFrame, synthetic: pd.DataFrame, threshold: float = 0.0) -> float:
    """1 - |r_real - r_synthetic| / 2; NaN when the real |r| is not above `threshold`."""

    def corr(df: pd.DataFrame) -> float:
        both = df.apply(numeric_values).dropna()
        return both.iloc[:, 0].corr(both.iloc[:, 1])

    r, s = corr(real), corr(synthetic)
    if np.isnan(r) or np.isnan(s) or abs(r) <= threshold:
        return float("nan")
    return float(1 - abs(r - s) / 2)


def contingency_similarity(real: pd.DataFrame, synthetic: pd.DataFrame, threshold: float = 0.0) -> float:
    """1 - total variation between the joint distributions; NaN when the real Cramér's V <= `threshold`."""
    counts = real.groupby(list(real.columns), dropna=False).size()
    if threshold > 0:
        table = counts.unstack(fill_value=0)
        if min(table.shape) < 2 or association(table.to_numpy(), method="cramer") <= threshold:
            return float("nan")
    p = counts / len(real)
    q = synthetic.groupby(list(synthetic.columns), dropna=False).size() / len(synthetic)
    cells = p.index.union(q.index, sort=False)
    p, q = p.reindex(cells, fill_value=0.0), q.reindex(cells, fill_value=0.0)
    return float(1 - 0.5 * np.abs(p - q).sum())


def quality(real: pd.DataFrame, synthetic: pd.DataFrame, continuous: list[str], discrete: list[str]) -> QualityScores:
    """SDMetrics-style quality over the named columns (ids and text are left out by the caller)."""
    shapes = {}
    for name in continuous:
        shapes[name] = ks_complement(real[name], synthetic[name])
    for name in discrete:
        shapes[name] = tv_complement(level_keys(real[name]), level_keys(synthetic[name]))
    kinds = {name: "c" for name in continuous} | {name: "d" for name in discrete}
    columns = [name for name in real.columns if name in kinds]
    binned_real = {name: _bin(real[name]) for name in continuous}
    binned_synthetic = {name: _bin(synthetic[name]) for name in continuous}
    pairs = {}
    for a, b in itertools.combinations(columns, 2):
        if kinds[a] == kinds[b] == "c":
            score = correlation_similarity(real[[a, b]], synthetic[[a, b]], REAL_CORRELATION_THRESHOLD)
        else:
            r = pd.DataFrame({a: binned_real.get(a, level_keys(real[a])), b: binned_real.get(b, level_keys(real[b]))})
            s = pd.DataFrame(
                {a: binned_synthetic.get(a, level_keys(synthetic[a])), b: binned_synthetic.get(b, level_keys(synthetic[b]))}
            )
            score = contingency_similarity(r, s, REAL_ASSOCIATION_THRESHOLD)
        if not np.isnan(score):
            pairs[(a, b)] = score
    shape_score = _mean(shapes.values())
    pair_score = _mean(pairs.values())
    overall = _mean([shape_score, pair_score])
    return QualityScores(overall, shape_score, pair_score, shapes, pairs)


def _mean(scores) -> float:
    """Mean of the scores that could be computed; NaN when none could."""
    finite = [s for s in scores if not np.isnan(s)]
    return float(np.mean(finite)) if finite else float("nan")


def numeric_values(values: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("int64").where(values.notna()).astype(float)
    return pd.to_numeric(values, errors="coerce").astype(float)


def level_keys(values: pd.Series) -> pd.Series:
    """Discrete values compared by their text, so 1, 1.0 and True/'True' line up across tables."""
    return values.map(lambda v: None if pd.isna(v) else str(int(v) if isinstance(v, float) and v.is_integer() else v))


def _bin(values: pd.Series) -> pd.Series:
    numbers = numeric_values(values)
    edges = np.histogram_bin_edges(numbers.dropna()) if numbers.notna().any() else np.array([0.0, 1.0])
    return pd.Series(np.digitize(numbers, bins=edges), index=values.index)


def detection_auc(real: pd.DataFrame, synthetic: pd.DataFrame, continuous: list[str], discrete: list[str],
                  seed: int = 0, folds: int = 5, model: str = "logistic") -> float:
    """Cross-validated ROC AUC of a classifier telling real rows from synthetic ones.

    0.5 means indistinguishable (best), 1.0 perfectly separable. model "logistic": a logistic
    regression on standardized numbers and one-hot levels (SDMetrics' LogisticDetection is
    1 - (2 * max(AUC, 0.5) - 1) on the same idea; unlike it, unseen categories do not crash this);
    "boosting": scikit-learn's HistGradientBoosting, which sees interactions and thresholds a linear
    model misses, as the strong detectors of the literature do.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    both = pd.concat([real[continuous + discrete], synthetic[continuous + discrete]], ignore_index=True)
    for name in continuous:
        both[name] = numeric_values(both[name])
    for name in discrete:
        both[name] = level_keys(both[name]).fillna("\x00null")
    labels = np.r_[np.ones(len(real)), np.zeros(len(synthetic))]
    if model == "boosting":
        features = ColumnTransformer([
            ("numbers", "passthrough", continuous),  # the trees take missing values as they are
            ("levels", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1), discrete),
        ])
        classifier = HistGradientBoostingClassifier(max_iter=200, random_state=seed)
    else:
        features = ColumnTransformer([
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), continuous),
            ("levels", OneHotEncoder(handle_unknown="ignore"), discrete),
        ])
        classifier = LogisticRegression(max_iter=1000)
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(make_pipeline(features, classifier), both, labels, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(labels, scores))
