"""The quality filter: score synthetic rows against real train rows and admit only realistic ones.

Discriminator: a logistic regression telling real train rows from synthetic rows on joint features
(the run's tabular preprocessing, MiniLM text embeddings, simple text statistics). Cross-fitted:
rows are dealt into folds by a hash of their position, and each row is scored by the model fit on
the other folds, so no row is scored by a model that saw it, and removing a row leaves every other
row's score unchanged. Logistic regression is fit by log-loss, so with balanced classes its output
is a usable P(real).

Admission (`mode`): "rejection" (default) accepts a row with probability proportional to the
density ratio D/(1-D) (discriminator rejection sampling, Azadi et al., 2019), which reshapes the
synthetic distribution toward the real one instead of keeping only typical rows; "threshold" keeps
P(real) >= `threshold`; "top" keeps the `top_fraction` with the highest P(real).

Other checks, each its own reject reason: invalid (types, bounds, entity consistency), text_copy
(exact or near copy of a train text), too_close (tabular distance to the closest train row below
the 5th percentile of what real held-out rows show; where 5% of real held-out rows have an exact
tabular twin in train, as in tables of few discrete columns, a twin is no sign of memorization and
this check admits it), rating_contradiction (the text reads more than
`max_rating_gap` away from the row's rating, by a judge fit on real train text).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from augment.preprocess import Preprocessor
from augment.schema import Schema
from augment.text.gates import CopyIndex, NEAR_COPY_OVERLAP, RatingModel, joined_text

REASONS = ("invalid", "text_copy", "too_close", "rating_contradiction", "discriminator")


@dataclass
class FilterConfig:
    mode: str = "rejection"  # rejection | threshold | top | none
    threshold: float = 0.3
    top_fraction: float = 0.5
    ratio_quantile: float = 0.95  # the density ratio that maps to acceptance 1 (robust to outliers)
    folds: int = 5
    real_rows: int = 3000  # real train rows the discriminator sees (bounded: embeddings cost time)
    max_rating_gap: float = 2.0
    close_quantile: float = 0.05
    use_text_embeddings: bool = True


def row_folds(ids, folds: int) -> np.ndarray:
    """Fold of each row from a hash of its id: a row keeps its fold when other rows come or go."""
    return np.array([int(hashlib.sha256(str(i).encode()).hexdigest(), 16) % folds for i in ids])


class Featurizer:
    """Joint features: preprocessed tabular columns (one-hot levels), text embedding and statistics."""

    def __init__(self, schema: Schema, preprocessor: Preprocessor, train: pd.DataFrame, text: str = "embeddings"):
        self.schema, self.preprocessor, self.text = schema, preprocessor, text  # embeddings | stats | none
        encoded = preprocessor.transform(train)
        self.levels = {name: sorted(encoded[name].astype(str).unique()) for name in preprocessor.discrete}

    def __call__(self, df: pd.DataFrame) -> np.ndarray:
        encoded = self.preprocessor.transform(df)
        blocks = [encoded[[c for c in encoded.columns if c in self.preprocessor.numeric or c.endswith("__missing")]]
                  .to_numpy(float)]
        for name, levels in self.levels.items():
            values = encoded[name].astype(str).to_numpy()
            blocks.append((values[:, None] == np.array(levels)[None, :]).astype(float))
        if self.schema.text_columns and self.text != "none":
            texts = joined_text(df, self.schema.text_columns)
            words = texts.str.split().str.len().fillna(0).to_numpy(float)
            distinct = texts.map(lambda t: len(set(t.split())) / max(len(t.split()), 1)).to_numpy(float)
            blocks.append(np.column_stack([np.log1p(words), distinct, (words == 0).astype(float)]))
            if self.text == "embeddings":
                from augment.text.encoder import embed

                blocks.append(embed(texts.tolist()))
        return np.nan_to_num(np.concatenate(blocks, axis=1))


def discriminator_scores(real: np.ndarray, synthetic: np.ndarray, real_ids, synthetic_ids, folds: int,
                         seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cross-fitted P(real) for every real and every synthetic row (ids decide the folds)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    real_fold = row_folds([f"real-{i}" for i in real_ids], folds)
    synthetic_fold = row_folds([f"synthetic-{i}" for i in synthetic_ids], folds)
    real_score, synthetic_score = np.zeros(len(real)), np.zeros(len(synthetic))
    for k in range(folds):
        x = np.concatenate([real[real_fold != k], synthetic[synthetic_fold != k]])
        y = np.r_[np.ones((real_fold != k).sum()), np.zeros((synthetic_fold != k).sum())]
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.5, max_iter=2000, class_weight="balanced",
                                                                   random_state=seed))
        model.fit(x, y)
        if (real_fold == k).any():
            real_score[real_fold == k] = model.predict_proba(real[real_fold == k])[:, 1]
        if (synthetic_fold == k).any():
            synthetic_score[synthetic_fold == k] = model.predict_proba(synthetic[synthetic_fold == k])[:, 1]
    return real_score, synthetic_score


def admission_probability(p_real: np.ndarray, config: FilterConfig) -> np.ndarray:
    p = np.clip(p_real, 1e-6, 1 - 1e-6)
    if config.mode == "none":
        return np.ones_like(p)
    if config.mode == "threshold":
        return (p >= config.threshold).astype(float)
    if config.mode == "top":
        cut = np.quantile(p, 1 - config.top_fraction)
        return (p >= cut).astype(float)
    ratio = p / (1 - p)
    return np.minimum(1.0, ratio / np.quantile(ratio, config.ratio_quantile))


def invalid_rows(rows: pd.DataFrame, schema: Schema, train: pd.DataFrame) -> pd.Series:
    """Rows breaking the schema: numbers outside bounds or unparseable, unknown levels, a known key
    with attributes other than its own."""
    bad = pd.Series(False, index=rows.index)
    for column in schema.columns:
        if column.name not in rows.columns or column.role in ("text", "id"):
            continue
        values = rows[column.name]
        if column.is_numeric:
            numbers = pd.to_numeric(values, errors="coerce")
            bad |= numbers.isna() & values.notna()
            if column.min is not None:
                bad |= numbers < column.min
            if column.max is not None:
                bad |= numbers > column.max
        elif column.role == "categorical":
            bad |= values.notna() & ~values.astype(str).isin(set(train[column.name].dropna().astype(str)))
    for entity in schema.entities:
        truth = train.groupby(entity.key)[entity.attributes].agg(lambda s: s.mode(dropna=False).iloc[0])
        known = rows[entity.key].isin(truth.index)  # an unseen key cannot be checked, so it passes
        for name in entity.attributes:
            expected = rows.loc[known, entity.key].map(truth[name])
            bad.loc[known] |= expected.astype(str).to_numpy() != rows.loc[known, name].astype(str).to_numpy()
    return bad


def closest_distances(reference: np.ndarray, rows: np.ndarray, chunk: int = 512) -> np.ndarray:
    out = np.empty(len(rows))
    for start in range(0, len(rows), chunk):
        block = rows[start : start + chunk]
        d = ((block[:, None, :] - reference[None, :, :]) ** 2).sum(-1)
        out[start : start + chunk] = np.sqrt(d.min(axis=1))
    return out


def filter_rows(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame, schema: Schema,
                preprocessor: Preprocessor, config: FilterConfig, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """`synthetic` with score and reason columns (`admitted`, `reject_reason`, ...) and the acceptance summary.

    The index of `synthetic` identifies its rows (it decides their cross-fitting folds): keep it unique.
    """
    rng = np.random.default_rng(seed)
    real = train.sample(min(config.real_rows, len(train)), random_state=seed)
    featurize = Featurizer(schema, preprocessor, train, "embeddings" if config.use_text_embeddings else "stats")
    _, p_real = discriminator_scores(featurize(real), featurize(synthetic), real.index, synthetic.index,
                                     config.folds, seed)
    out = synthetic.copy()
    out["score_p_real"] = np.round(p_real, 5)
    out["admission_probability"] = np.round(admission_probability(p_real, config), 5)
    checks = {"invalid": invalid_rows(synthetic, schema, train).to_numpy()}

    if schema.text_columns:
        index = CopyIndex(joined_text(train, schema.text_columns))
        texts = joined_text(synthetic, schema.text_columns)
        overlap = np.array([index.overlap(t) for t in texts])
        out["text_ngram_overlap"] = np.round(overlap, 4)
        checks["text_copy"] = np.array([index.is_exact_copy(t) for t in texts]) | (overlap >= NEAR_COPY_OVERLAP)
        if schema.target:
            judge = RatingModel.fit(joined_text(train, schema.text_columns), train[schema.target])
            read = judge.predict(texts)
            out["text_rating"] = np.round(read, 3)
            has_text = (texts.str.len() > 0).to_numpy()
            gap = np.abs(read - pd.to_numeric(synthetic[schema.target], errors="coerce").to_numpy(float))
            checks["rating_contradiction"] = has_text & (gap > config.max_rating_gap)

    tabular = Featurizer(schema, preprocessor, train, text="none")
    reference = tabular(real)
    held = holdout.sample(min(500, len(holdout)), random_state=seed)
    floor = np.quantile(closest_distances(reference, tabular(held)), config.close_quantile)
    distance = closest_distances(reference, tabular(synthetic))
    out["distance_to_closest_train"] = np.round(distance, 4)
    checks["too_close"] = distance < floor

    checks["discriminator"] = rng.random(len(out)) >= out["admission_probability"].to_numpy()
    reasons = np.full(len(out), "", dtype=object)
    for reason in REASONS:  # the first failing check names the row's reason
        if reason in checks:
            reasons[(reasons == "") & checks[reason]] = reason
    out["reject_reason"] = reasons
    out["admitted"] = reasons == ""
    summary = {
        "config": asdict(config),
        "rows": len(out),
        "admitted": int(out["admitted"].sum()),
        "acceptance_rate": round(float(out["admitted"].mean()), 4),
        "rejected_by": {r: int((reasons == r).sum()) for r in REASONS if r in checks},
        "failing": {r: int(checks[r].sum()) for r in checks},  # a row may fail several checks
        "too_close_floor": round(float(floor), 4),
    }
    return out, summary
