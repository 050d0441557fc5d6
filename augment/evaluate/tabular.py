"""Tabular fidelity: SDMetrics' QualityReport (the score SDV users know), and detection by a classifier.

Column shapes: KS complement for continuous columns, total-variation complement for discrete ones.
Column pair trends: correlation similarity for two continuous columns, contingency similarity
otherwise; a pair counts only if the real data shows a trend to keep (|Pearson r| above 0.5, or
Cramér's V above 0.3, sdmetrics' defaults). Quality is the mean of the two properties. All in
[0, 1], higher is better. `ks_complement` stays here for single columns, where building a report
would be all overhead (the text metrics score lengths with it).
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import ks_2samp

KS_DECIMALS = 9  # sdmetrics rounds to this many decimals before the KS test


@dataclass
class QualityScores:
    """SDMetrics-style quality: column shapes, pair trends, their mean, and each column's and pair's score."""
    quality: float
    shapes: float
    pair_trends: float
    column_shapes: dict[str, float]
    pairs: dict[tuple[str, str], float]  # (a, b) -> score, for the pairs that show a trend in the real data
    strength: dict[tuple[str, str], float] = field(default_factory=dict)  # (a, b) -> |Pearson r| or Cramér's V in the real data

    def to_dict(self) -> dict:
        return {
            "quality": self.quality,
            "column_shapes": self.shapes,
            "column_pair_trends": self.pair_trends,
            "per_column": self.column_shapes,
            # a list, not "a | b" keys: column names may hold any text
            "per_pair": [{"columns": [a, b], "score": score, "real_strength": self.strength.get((a, b))}
                         for (a, b), score in self.pairs.items()],
        }


def ks_complement(real: pd.Series, synthetic: pd.Series) -> float:
    """1 - the Kolmogorov-Smirnov statistic of two numeric columns (SDMetrics' KSComplement)."""
    real, synthetic = numeric_values(real).dropna(), numeric_values(synthetic).dropna()
    if real.empty:
        return float("nan")  # nothing to reproduce
    if synthetic.empty:
        return 0.0  # real values, and not one synthetic value: scored as the worst shape, never left out
    statistic = ks_2samp(real.round(KS_DECIMALS), synthetic.round(KS_DECIMALS)).statistic
    return float(1 - statistic)


def quality(real: pd.DataFrame, synthetic: pd.DataFrame, continuous: list[str], discrete: list[str]) -> QualityScores:
    """SDMetrics' QualityReport over the named columns (ids and text are left out by the caller).

    Discrete values are compared by their text, so 1, 1.0 and True/'True' line up across tables; a
    column with real values and no synthetic value scores 0 (the report would leave it out, which
    would flatter a generator that drops a column); a column with no real value is left out.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sdmetrics.reports.single_table import QualityReport

    kinds = {name: "numerical" for name in continuous} | {name: "categorical" for name in discrete}
    columns = [name for name in real.columns if name in kinds and real[name].notna().any()]

    def typed(df: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({name: (numeric_values(df[name]) if kinds[name] == "numerical" else
                                    level_keys(df[name]).astype(object)).to_numpy() for name in columns})

    empty = [name for name in columns if synthetic[name].notna().sum() == 0]
    scored = [name for name in columns if name not in empty]
    shapes = {name: 0.0 for name in empty}
    pairs, strength = {}, {}
    if scored:
        report = QualityReport()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            report.generate(typed(real)[scored], typed(synthetic)[scored],
                            {"columns": {name: {"sdtype": kinds[name]} for name in scored}}, verbose=False)
        for row in report.get_details("Column Shapes").itertuples(index=False):
            shapes[row.Column] = float(row.Score)
        trends = report.get_details("Column Pair Trends")
        if len(trends):
            keep = trends["Meets Threshold?"].eq(True) & trends["Score"].notna()  # NaN: a constant column
            pairs = {(a, b): float(score) for a, b, score in
                     trends.loc[keep, ["Column 1", "Column 2", "Score"]].itertuples(index=False)}
            real_strength = trends["Real Correlation"].abs().fillna(trends["Real Association"])
            strength = {(a, b): float(v) for a, b, v in zip(trends["Column 1"], trends["Column 2"], real_strength)
                        if (a, b) in pairs}
    shapes = {name: shapes[name] for name in columns if name in shapes}
    shape_score, pair_score = _mean(shapes.values()), _mean(pairs.values())
    return QualityScores(_mean([shape_score, pair_score]), shape_score, pair_score, shapes, pairs, strength)


def three_column_accuracy(real: pd.DataFrame, synthetic: pd.DataFrame, continuous: list[str], discrete: list[str],
                          seed: int = 0, bins: int = 10, max_triples: int = 200) -> float:
    """Mean over column triples of 1 - total variation between the real and synthetic joint shares.

    Numbers fall into `bins` quantile bins of the real values, levels beyond the `bins - 1` commonest
    into one "other" (mostlyai-qa's trivariate accuracy does the same). Up to `max_triples` triples,
    drawn with `seed`. Own code: sdmetrics scores columns and pairs, nothing over three columns.
    """
    columns = [name for name in real.columns if name in set(continuous) | set(discrete)]
    triples = list(itertools.combinations(columns, 3))
    if not triples:
        return float("nan")
    if len(triples) > max_triples:
        picked = np.random.default_rng(seed).choice(len(triples), max_triples, replace=False)
        triples = [triples[i] for i in sorted(picked)]
    coded_real, coded_synthetic = {}, {}
    for name in columns:
        coded_real[name], coded_synthetic[name], _ = binned(real[name], synthetic[name], name in continuous, bins)
    scores = []
    for triple in triples:
        p = pd.DataFrame({c: coded_real[c] for c in triple}).value_counts(normalize=True, dropna=False)
        q = pd.DataFrame({c: coded_synthetic[c] for c in triple}).value_counts(normalize=True, dropna=False)
        p, q = p.align(q, fill_value=0.0)
        scores.append(1 - 0.5 * float(np.abs(p - q).sum()))
    return float(np.mean(scores))


def binned(real: pd.Series, synthetic: pd.Series, continuous: bool, bins: int = 10
           ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Both columns as small integer codes on the real column's quantile bins or commonest levels
    (-1: missing), and a label per code."""
    if continuous:
        r, s = numeric_values(real).to_numpy(), numeric_values(synthetic).to_numpy()
        present = r[~np.isnan(r)]
        edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1])) if len(present) else np.array([])
        inner = [f"{a:.4g} to {b:.4g}" for a, b in itertools.pairwise(edges)]
        labels = [f"< {edges[0]:.4g}", *inner, f">= {edges[-1]:.4g}"] if len(edges) else ["all"]
        codes = tuple(np.where(np.isnan(x), -1, np.searchsorted(edges, x, side="right")) for x in (r, s))
        return *codes, labels
    r, s = level_keys(real), level_keys(synthetic)
    common = {level: i for i, level in enumerate(r.value_counts().index[: bins - 1])}
    other = len(common)
    codes = tuple(np.array([-1 if v is None else common.get(v, other) for v in x]) for x in (r, s))
    return *codes, [*common, "other"]


def _mean(scores) -> float:
    """Mean of the scores that could be computed; NaN when none could."""
    finite = [s for s in scores if not np.isnan(s)]
    return float(np.mean(finite)) if finite else float("nan")


def numeric_values(values: pd.Series) -> pd.Series:
    """A column as floats: datetimes as nanoseconds, anything unreadable as NaN."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("int64").where(values.notna()).astype(float)
    return pd.to_numeric(values, errors="coerce").astype(float)


def level_keys(values: pd.Series) -> pd.Series:
    """Discrete values compared by their text, so 1, 1.0 and True/'True' line up across tables."""
    return values.map(lambda v: None if pd.isna(v) else str(int(v) if isinstance(v, float) and v.is_integer() else v))


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
