"""Text fidelity, diversity and privacy: lengths, distinct-n, embedding distances, copies, rating fit.

Embedding distances use MiniLM sentence embeddings: the Fréchet distance between Gaussian fits
(as FID does for images) and the MMD with an RBF kernel (bandwidth by the median heuristic). Each
comes with the same distance between two halves of the real table: the floor a generator can reach.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import linalg

from augment.evaluate.tabular import ks_complement
from augment.text.gates import NEAR_COPY_OVERLAP, CopyIndex, RatingModel, joined_text

MAX_EMBEDDED = 1500  # texts per side that are embedded: enough for stable distances, bounded time


def word_counts(texts: pd.Series) -> pd.Series:
    return texts.fillna("").astype(str).str.split().str.len()


def distinct_n(texts: pd.Series, n: int) -> float:
    """Unique word n-grams over all word n-grams (higher: more varied)."""
    total, unique = 0, set()
    for text in texts.fillna("").astype(str):
        words = text.lower().split()
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        unique.update(grams)
    return len(unique) / total if total else float("nan")


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between two sets of embeddings, each taken as a Gaussian (FID's formula)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    ridge = 1e-6 * np.eye(a.shape[1])  # few or repeated texts give singular covariances (FID's usual offset)
    cov_a, cov_b = np.cov(a, rowvar=False) + ridge, np.cov(b, rowvar=False) + ridge
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        root = linalg.sqrtm(cov_a @ cov_b)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * np.real(root)))


def mmd_rbf(a: np.ndarray, b: np.ndarray) -> float:
    """Squared maximum mean discrepancy of two sets of embeddings, RBF kernel at the median distance."""
    both = np.concatenate([a, b])
    squared = ((both[:, None, :] - both[None, :, :]) ** 2).sum(-1)
    bandwidth = np.median(squared[np.triu_indices(len(both), 1)]) or 1.0
    kernel = np.exp(-squared / bandwidth)
    n = len(a)
    return float(kernel[:n, :n].mean() + kernel[n:, n:].mean() - 2 * kernel[:n, n:].mean())


def mean_pairwise_similarity(embeddings: np.ndarray) -> float:
    """Mean cosine similarity between different texts (lower: more diverse)."""
    sims = embeddings @ embeddings.T
    n = len(embeddings)
    return float((sims.sum() - np.trace(sims)) / (n * (n - 1))) if n > 1 else float("nan")


def measure_text(real: pd.DataFrame, synthetic: pd.DataFrame, train: pd.DataFrame, text_columns: list[str],
                 target: str | None, seed: int = 0) -> dict:
    """The report's text measures, per text column: lengths, diversity, embedding distances and
    rating consistency of synthetic against real text.
    """
    from augment.text.encoder import embed

    rng = np.random.default_rng(seed)
    out: dict = {"columns": {}}
    for name in text_columns:
        r, s = real[name], synthetic[name]
        out["columns"][name] = {
            "empty_share_real": float(r.isna().mean()), "empty_share_synthetic": float(s.isna().mean()),
            "mean_words_real": float(word_counts(r).mean()), "mean_words_synthetic": float(word_counts(s).mean()),
            "length_ks_complement": ks_complement(word_counts(r.dropna()), word_counts(s.dropna())),
        }
    real_text, synthetic_text = joined_text(real, text_columns), joined_text(synthetic, text_columns)
    size = min(len(real_text), len(synthetic_text), MAX_EMBEDDED)
    real_sample = real_text.sample(size, random_state=seed)
    synthetic_sample = synthetic_text.sample(size, random_state=seed)
    for n in (1, 2):
        out[f"distinct_{n}"] = {"real": distinct_n(real_sample, n), "synthetic": distinct_n(synthetic_sample, n)}
    out["vocabulary"] = {"real": len(set(" ".join(real_sample).split())),
                         "synthetic": len(set(" ".join(synthetic_sample).split()))}

    real_emb, synthetic_emb = embed(real_sample.tolist()), embed(synthetic_sample.tolist())
    half = rng.permutation(len(real_emb))
    a, b = real_emb[half[: len(half) // 2]], real_emb[half[len(half) // 2 :]]
    m = min(len(a), 400)  # MMD is quadratic: a bounded subsample
    out["embedding"] = {
        "frechet": frechet_distance(real_emb, synthetic_emb),
        "frechet_real_vs_real": frechet_distance(a, b),
        "mmd": mmd_rbf(real_emb[:m], synthetic_emb[:m]),
        "mmd_real_vs_real": mmd_rbf(a[:m], b[:m]),
        "self_similarity_real": mean_pairwise_similarity(real_emb[:m]),
        "self_similarity_synthetic": mean_pairwise_similarity(synthetic_emb[:m]),
    }
    out["projection"] = _project(real_emb[:m], synthetic_emb[:m])

    index = CopyIndex(joined_text(train, text_columns))
    overlap = np.array([index.overlap(t) for t in synthetic_text])
    out["copies"] = {
        "exact": int(sum(index.is_exact_copy(t) for t in synthetic_text)),
        "near": int((overlap >= NEAR_COPY_OVERLAP).sum()),
        "rows": len(synthetic_text),
    }
    if target:
        judge = RatingModel.fit(joined_text(train, text_columns), train[target])
        out["rating_consistency"] = {"real": judge.consistency(real_text, real[target]),
                                     "synthetic": judge.consistency(synthetic_text, synthetic[target])}
        out["utility_tstr"] = train_on_synthetic_test_on_real(synthetic_text, synthetic[target], real_text,
                                                              real[target], train, text_columns, target, seed)
    return out


def train_on_synthetic_test_on_real(synthetic_text: pd.Series, synthetic_rating: pd.Series, real_text: pd.Series,
                                    real_rating: pd.Series, train: pd.DataFrame, text_columns: list[str],
                                    target: str, seed: int) -> dict:
    """RMSE on the real table of a TF-IDF+ridge rating model fit on synthetic rows, beside one fit on as
    many real train rows, and beside predicting the mean."""
    def rmse(model: RatingModel) -> float:
        keep = real_text.str.len().gt(0) & real_rating.notna()
        error = model.predict(real_text[keep]) - real_rating[keep].astype(float)
        return float(np.sqrt(np.mean(error ** 2)))

    n = int(synthetic_text.str.len().gt(0).sum())
    sample = train.sample(min(n, len(train)), random_state=seed)
    mean_error = real_rating.astype(float) - float(pd.to_numeric(train[target]).mean())
    return {
        "rows": n,
        "rmse_trained_on_synthetic": rmse(RatingModel.fit(synthetic_text, synthetic_rating)),
        "rmse_trained_on_real_same_size": rmse(RatingModel.fit(joined_text(sample, text_columns), sample[target])),
        "rmse_mean_predictor": float(np.sqrt(np.mean(mean_error.dropna() ** 2))),
    }


def _project(real: np.ndarray, synthetic: np.ndarray) -> dict:
    """2-D PCA of both embedding sets (fit on the real ones), for the report's scatter plot."""
    centre = real.mean(0)
    _, _, vt = np.linalg.svd(real - centre, full_matrices=False)
    return {"real": ((real - centre) @ vt[:2].T).round(4).tolist(),
            "synthetic": ((synthetic - centre) @ vt[:2].T).round(4).tolist()}
