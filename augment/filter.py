"""The quality filter: score synthetic rows against real train rows and admit only realistic ones.

Discriminator: a logistic regression telling real train rows from synthetic rows on joint features
(the run's tabular preprocessing, MiniLM text embeddings, simple text statistics). Cross-fitted:
rows are dealt into folds by a hash of their position, and each row is scored by the model fit on
the other folds, so no row is scored by a model that saw it, and removing a row leaves every other
row's score unchanged. Logistic regression is fit by log-loss, so with balanced classes its output
is a usable P(real).

Admission (`mode`): "drs" (default) is discriminator rejection sampling (Azadi et al., 2019) with
its full rule: accept with the logistic of the density ratio's logit shifted by gamma, gamma set so
that the rows scored admit `target_acceptance` on average. It reshapes the synthetic distribution
toward the real one instead of keeping only typical rows, and reaches a run's --rows within its
budget. "rejection" accepts with probability proportional to the plain density ratio D/(1-D):
against a strong discriminator it admits too few rows (about 9% on womens-clothing, see
reports/filter_ablation/); "threshold" keeps P(real) >= `threshold`; "top"
keeps the `top_fraction` with the highest P(real).

With more than `fit_rows` synthetic rows, the discriminator is fit on a seeded sample of them and
the other rows are scored by the mean of its fold models (none of which saw them), chunk by chunk,
so memory stays flat however many rows are filtered (see `RowFilter`).

Other checks, each its own reject reason: invalid (types, bounds, entity consistency), text_copy
(exact or near copy of a train text), too_close (tabular distance to the closest train row below
the 5th percentile of what real held-out rows show; where 5% of real held-out rows have an exact
tabular twin in train, as in tables of few discrete columns, a twin is no sign of memorization and
this check admits it), rating_contradiction (the text reads more than
`max_rating_gap` away from what real held-out text of the row's rating reads as, by a judge fit
on real train text).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.special import expit  # the logistic function, no overflow warning for large |x|

from augment.data import resolve_source
from augment.distributed import World, chunk_seed, write_sharded
from augment.errors import UserError
from augment.preprocess import Preprocessor
from augment.rows import typed_booleans
from augment.runs import file_hash, value_hash
from augment.schema import Schema, key_attributes
from augment.text.gates import NEAR_COPY_OVERLAP, CopyIndex, RatingModel, joined_text

if TYPE_CHECKING:
    from augment.prepared import Prepared

REASONS = ("invalid", "text_copy", "too_close", "rating_contradiction", "discriminator")
FILTER_CHUNK_ROWS = 20_000  # rows scored at a time by `filter_file`


FILTER_MODES = ("drs", "rejection", "threshold", "top", "none")


@dataclass
class FilterConfig:
    """How rows are admitted; `mode` picks the rule (see `admission_probability`)."""
    mode: str = "drs"  # drs | rejection | threshold | top | none
    threshold: float = 0.3
    top_fraction: float = 0.5
    ratio_quantile: float = 0.95  # the density ratio that maps to acceptance 1 (robust to outliers)
    target_acceptance: float = 0.3  # "drs": the share of rows admitted on average (a run's budget needs 1/4)
    folds: int = 5
    real_rows: int = 3000  # real train rows the discriminator sees (bounded: embeddings cost time)
    max_rating_gap: float = 2.0
    close_quantile: float = 0.05
    use_text_embeddings: bool = True
    fit_rows: int = 20_000  # synthetic rows the discriminator is fit on; the rest are scored by its fold models

    def __post_init__(self):
        if self.mode not in FILTER_MODES:
            raise UserError(f"filter mode {self.mode!r}: use one of {', '.join(FILTER_MODES)}")
        if not 0 < self.target_acceptance <= 1:
            raise UserError(f"target acceptance {self.target_acceptance}: must be above 0 and at most 1")


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


class Discriminator:
    """Cross-fitted logistic regressions telling real rows (1) from synthetic rows (0).

    Each fitted row gets its P(real) from the model of the folds it is not in; rows that were not
    fitted on (beyond the bounded fit sample) get the mean of the fold models, none of which saw them.
    """

    def __init__(self, folds: int, seed: int):
        self.folds, self.seed, self.models = folds, seed, []

    def fit(self, real: np.ndarray, synthetic: np.ndarray, real_ids, synthetic_ids) -> tuple[np.ndarray, np.ndarray]:
        """Fit the fold models; the out-of-fold P(real) of every real and every synthetic row."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        real_fold = row_folds([f"real-{i}" for i in real_ids], self.folds)
        synthetic_fold = row_folds([f"synthetic-{i}" for i in synthetic_ids], self.folds)
        real_score, synthetic_score = np.zeros(len(real)), np.zeros(len(synthetic))
        self.models = []
        for k in range(self.folds):
            x = np.concatenate([real[real_fold != k], synthetic[synthetic_fold != k]])
            y = np.r_[np.ones((real_fold != k).sum()), np.zeros((synthetic_fold != k).sum())]
            model = make_pipeline(StandardScaler(), LogisticRegression(
                C=0.5, max_iter=2000, class_weight="balanced", random_state=self.seed))
            self.models.append(model.fit(x, y))
            if (real_fold == k).any():
                real_score[real_fold == k] = model.predict_proba(real[real_fold == k])[:, 1]
            if (synthetic_fold == k).any():
                synthetic_score[synthetic_fold == k] = model.predict_proba(synthetic[synthetic_fold == k])[:, 1]
        return real_score, synthetic_score

    def score(self, features: np.ndarray) -> np.ndarray:
        """P(real) of rows no fold model was fit on."""
        return np.mean([m.predict_proba(features)[:, 1] for m in self.models], axis=0)


def discriminator_scores(real: np.ndarray, synthetic: np.ndarray, real_ids, synthetic_ids, folds: int,
                         seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Cross-fitted P(real) for every real and every synthetic row (ids decide the folds)."""
    return Discriminator(folds, seed).fit(real, synthetic, real_ids, synthetic_ids)


def admission_probability(p_real: np.ndarray, config: FilterConfig, reference: np.ndarray | None = None) -> np.ndarray:
    """Each row's chance of admission; the ratio scale and the top cut come from `reference` (the
    fit sample's P(real); `p_real` itself by default), so rows scored chunk by chunk are treated alike."""
    p = np.clip(p_real, 1e-6, 1 - 1e-6)
    reference = p if reference is None else np.clip(reference, 1e-6, 1 - 1e-6)
    if config.mode == "none":
        return np.ones_like(p)
    if config.mode == "threshold":
        return (p >= config.threshold).astype(float)
    if config.mode == "top":
        cut = np.quantile(reference, 1 - config.top_fraction)
        return (p >= cut).astype(float)
    if config.mode == "drs":
        return drs_acceptance(np.log(p / (1 - p)), np.log(reference / (1 - reference)), config.target_acceptance)
    ratio = p / (1 - p)
    return np.minimum(1.0, ratio / np.quantile(reference / (1 - reference), config.ratio_quantile))


def drs_acceptance(logits: np.ndarray, reference: np.ndarray, target: float, eps: float = 1e-6) -> np.ndarray:
    """Discriminator rejection sampling (Azadi et al., ICLR 2019): accept with sigmoid(F - gamma), where
    F = D - D_max - log(1 - exp(D - D_max - eps)) for the discriminator logit D, and D_max its largest
    value on the reference (the 99th percentile: one outlier would set the scale). gamma is found by
    bisection so that the reference rows' mean acceptance is `target`; the same gamma then serves every
    chunk, so rows are treated alike wherever they are scored."""
    top = np.quantile(reference, 0.99)

    def f(d: np.ndarray) -> np.ndarray:
        gap = np.minimum(d - top, 0.0)  # above D_max, the ratio is capped as at D_max
        return gap - np.log1p(-np.exp(gap - eps))

    ref_f, low, high = f(reference), -50.0, 50.0
    for _ in range(60):
        gamma = (low + high) / 2
        if np.mean(expit(ref_f - gamma)) > target:
            low = gamma
        else:
            high = gamma
    return expit(f(logits) - (low + high) / 2)


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
        truth = key_attributes(train, entity.key, entity.attributes)
        known = rows[entity.key].isin(truth.index)  # an unseen key cannot be checked, so it passes
        for name in entity.attributes:
            expected = rows.loc[known, entity.key].map(truth[name])
            bad.loc[known] |= expected.astype(str).to_numpy() != rows.loc[known, name].astype(str).to_numpy()
    return bad


def closest_distances(reference: np.ndarray, rows: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """Euclidean distance from each row to its nearest reference row, by matrix products in blocks."""
    reference_sq = (reference ** 2).sum(1)
    out = np.empty(len(rows))
    for start in range(0, len(rows), chunk):
        block = rows[start : start + chunk]
        squared = (block ** 2).sum(1)[:, None] + reference_sq[None, :] - 2 * block @ reference.T
        out[start : start + chunk] = np.sqrt(np.maximum(squared.min(axis=1), 0.0))
    return out


class RowFilter:
    """Everything the checks learn from real data and a synthetic sample, then applied chunk by chunk.

    `fit` sees at most `config.fit_rows` synthetic rows; `score` takes any rows, in any number of
    chunks (or processes): a chunk's result depends only on the fitted filter, its rows and its seed.
    """

    def __init__(self, train: pd.DataFrame, holdout: pd.DataFrame, schema: Schema, preprocessor: Preprocessor,
                 config: FilterConfig, seed: int = 0):
        self.schema, self.config, self.seed = schema, config, seed
        self.train = train
        self.real = train.sample(min(config.real_rows, len(train)), random_state=seed)
        text = "embeddings" if config.use_text_embeddings else "stats"
        self.featurize = Featurizer(schema, preprocessor, train, text)
        self.tabular = Featurizer(schema, preprocessor, train, text="none")
        self.reference = self.tabular(self.real)
        held = holdout.sample(min(500, len(holdout)), random_state=seed)
        self.floor = float(np.quantile(closest_distances(self.reference, self.tabular(held)), config.close_quantile))
        self.copies = self.judge = None
        if schema.text_columns:
            self.copies = CopyIndex(joined_text(train, schema.text_columns))
            if schema.target:
                self.judge = RatingModel.fit(joined_text(train, schema.text_columns), train[schema.target])
                self.typical_reading = self.judge.typical_reading(joined_text(holdout, schema.text_columns),
                                                                  pd.to_numeric(holdout[schema.target], errors="coerce"))

    def fit(self, sample: pd.DataFrame) -> RowFilter:
        """Fit the discriminator on `sample` (its index identifies the rows and decides their folds)."""
        self.discriminator = Discriminator(self.config.folds, self.seed)
        sample = typed_booleans(sample, self.schema)  # 0/1 or yes/no rows compare with the real rows' booleans
        _, p_real = self.discriminator.fit(self.featurize(self.real), self.featurize(sample), self.real.index,
                                           sample.index)
        self.fitted = dict(zip(sample.index, p_real))  # out-of-fold scores of the rows fit on
        self.reference_p = p_real
        return self

    def score(self, rows: pd.DataFrame, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
        """`rows` with their scores and reject reason, and the counts `summary` adds up."""
        out = rows.copy()  # the rows as given; the checks read them typed as the real rows are
        rows = typed_booleans(rows, self.schema)
        fitted = rows.index.isin(list(self.fitted))
        p_real = np.empty(len(rows))
        p_real[fitted] = [self.fitted[i] for i in rows.index[fitted]]
        if (~fitted).any():
            p_real[~fitted] = self.discriminator.score(self.featurize(rows[~fitted]))
        out["score_p_real"] = np.round(p_real, 5)
        out["admission_probability"] = np.round(admission_probability(p_real, self.config, self.reference_p), 5)
        checks = {"invalid": invalid_rows(rows, self.schema, self.train).to_numpy()}
        if self.copies is not None:
            texts = joined_text(rows, self.schema.text_columns)
            overlap = np.array([self.copies.overlap(t) for t in texts])
            out["text_ngram_overlap"] = np.round(overlap, 4)
            exact = np.array([self.copies.is_exact_copy(t) for t in texts], dtype=bool)
            checks["text_copy"] = exact | (overlap >= NEAR_COPY_OVERLAP)
            if self.judge is not None:
                read = self.judge.predict(texts)
                out["text_rating"] = np.round(read, 3)
                has_text = (texts.str.len() > 0).to_numpy()
                given = pd.to_numeric(rows[self.schema.target], errors="coerce").to_numpy(float)
                rated = has_text & ~np.isnan(given)
                gap = np.zeros(len(rows))
                if rated.any():  # rows sampled without text have nothing to read
                    gap[rated] = np.abs(read[rated] - self.typical_reading(given[rated]))
                checks["rating_contradiction"] = gap > self.config.max_rating_gap
        distance = closest_distances(self.reference, self.tabular(rows))
        out["distance_to_closest_train"] = np.round(distance, 4)
        checks["too_close"] = distance < self.floor
        checks["discriminator"] = rng.random(len(out)) >= out["admission_probability"].to_numpy()
        reasons = np.full(len(out), "", dtype=object)
        for reason in REASONS:  # the first failing check names the row's reason
            if reason in checks:
                reasons[(reasons == "") & checks[reason]] = reason
        out["reject_reason"] = reasons
        out["admitted"] = reasons == ""
        return out, {"rows": len(out), "rejected_by": {r: int((reasons == r).sum()) for r in checks},
                     "failing": {r: int(checks[r].sum()) for r in checks}}

    def summary(self, counts: list[dict]) -> dict:
        """Acceptance over chunks, from the counts `score` returned for each."""
        rows = sum(c["rows"] for c in counts)
        checks = [r for r in REASONS if counts and r in counts[0]["failing"]]
        rejected = {r: sum(c["rejected_by"][r] for c in counts) for r in checks}
        return {
            "config": asdict(self.config),
            "rows": rows,
            "admitted": rows - sum(rejected.values()),
            "acceptance_rate": round((rows - sum(rejected.values())) / rows, 4) if rows else 0.0,
            "rejected_by": rejected,
            "failing": {r: sum(c["failing"][r] for c in counts) for r in checks},  # a row may fail several checks
            "too_close_floor": round(self.floor, 4),
        }


def filter_rows(synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame, schema: Schema,
                preprocessor: Preprocessor, config: FilterConfig, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """`synthetic` with score and reason columns (`admitted`, `reject_reason`, ...) and the acceptance summary.

    The index of `synthetic` identifies its rows (it decides their cross-fitting folds): keep it unique.
    """
    row_filter = RowFilter(train, holdout, schema, preprocessor, config, seed).fit(synthetic.head(config.fit_rows))
    out, counts = row_filter.score(synthetic, np.random.default_rng(seed))
    return out, row_filter.summary([counts])


def filter_file(source: str | Path, out: str | Path, prepared: Prepared, config: FilterConfig, world: World,
                seed: int = 0, keep_all: bool = False, chunk_rows: int = FILTER_CHUNK_ROWS) -> dict:
    """Filter a table of any size chunk by chunk against a prepared run, shared out over torchrun's
    ranks; resumable.

    Rows are identified by their position in `source`. The discriminator is fit (on rank 0, then
    sent to every rank) on the first `fit_rows` rows, which, like `filter_rows`, get out-of-fold
    scores. Writes the admitted rows (every row with `keep_all`); returns the summary on rank 0."""
    from augment.data import read_chunks

    if chunk_rows < 1:
        raise UserError(f"--chunk-rows {chunk_rows}: must be at least 1")
    prepared.run.refuse_own(out)
    schema = prepared.schema
    missing = [c for c in schema.names if c not in next(read_chunks(source, 1)).columns]
    if missing:
        raise UserError(f"{source}: lacks the run's columns {', '.join(missing)}")
    row_filter = None
    if world.is_main:
        row_filter = RowFilter(prepared.rows("train"), prepared.rows("validation"), schema, prepared.preprocessor,
                               config, seed)
        row_filter.fit(next(read_chunks(source, config.fit_rows)))
    row_filter = world.broadcast(row_filter)

    def work(number: int, chunk: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
        scored, counts = row_filter.score(chunk, np.random.default_rng(chunk_seed(seed, number)))
        return (scored if keep_all else scored[scored["admitted"]]).reset_index(drop=True), counts

    # Parts are reused only by the same input, run (its prepared data) and settings.
    key = value_hash({"source": file_hash(resolve_source(source)), "run": prepared.fingerprint,
                      "config": asdict(config), "seed": seed, "keep_all": keep_all, "chunk_rows": chunk_rows})
    counts = write_sharded(world, read_chunks(source, chunk_rows), work, Path(out), key)
    return row_filter.summary(counts) if world.is_main else {}
