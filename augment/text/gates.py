"""Quality gates on generated text: copies of training text, and whether the text fits its rating.

- exact copy: the normalized text equals a training text (such rows are rejected: none may pass);
- near copy: at least 80% of the text's word 5-grams occur in one single training text (counted);
- rating consistency: a TF-IDF + ridge model fit on real train text predicts the rating of each
  text; its Spearman correlation with the rating the row was conditioned on is reported next to the
  same figure on real validation text.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

NGRAM = 5
NEAR_COPY_OVERLAP = 0.8
WORD = re.compile(r"[a-z0-9']+")


def normalize(text) -> str:
    """Lower-cased words joined by single spaces: the form in which texts are compared."""
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return ""
    return " ".join(WORD.findall(str(text).lower()))


def joined_text(df: pd.DataFrame, columns: list[str]) -> pd.Series:
    """All text columns of a row as one string (what copy checks and rating models read)."""
    return df[columns].apply(lambda row: " ".join(normalize(v) for v in row if normalize(v)), axis=1)


def _ngrams(words: list[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + NGRAM]) for i in range(len(words) - NGRAM + 1)}


class CopyIndex:
    """Training texts indexed for exact-copy and 5-gram near-copy look-ups."""

    def __init__(self, train_texts: pd.Series):
        texts = [normalize(t) for t in train_texts]
        self.exact = {t for t in texts if t}
        self.postings: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for doc, text in enumerate(texts):
            for gram in _ngrams(text.split()):
                self.postings[gram].append(doc)

    def is_exact_copy(self, text) -> bool:
        normalized = normalize(text)
        return bool(normalized) and normalized in self.exact

    def overlap(self, text) -> float:
        """Largest share of the text's 5-grams found in any one training text (0 for short texts)."""
        grams = _ngrams(normalize(text).split())
        if not grams:
            return 0.0
        hits = Counter(doc for gram in grams for doc in self.postings.get(gram, ()))
        return max(hits.values(), default=0) / len(grams)


def _rated(texts: pd.Series, ratings: pd.Series) -> np.ndarray:
    """Rows with both a text and a rating: the only ones a rating judge can fit or be checked on."""
    return (texts.str.len().gt(0) & ratings.notna()).to_numpy()


@dataclass
class RatingModel:
    """TF-IDF + ridge on real train text: the judge of whether a text fits a rating."""

    vectorizer: object
    ridge: object

    @classmethod
    def fit(cls, texts: pd.Series, ratings: pd.Series) -> RatingModel:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import Ridge

        keep = _rated(texts, ratings)
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        features = vectorizer.fit_transform(texts[keep])
        return cls(vectorizer, Ridge(alpha=1.0).fit(features, ratings[keep].astype(float)))

    def predict(self, texts: pd.Series) -> np.ndarray:
        return self.ridge.predict(self.vectorizer.transform(texts))

    def consistency(self, texts: pd.Series, ratings: pd.Series) -> float:
        """Spearman correlation between predicted and given ratings over rows with text."""
        keep = _rated(texts, ratings)
        if keep.sum() < 3:
            return float("nan")
        predicted, given = self.predict(texts[keep]), ratings[keep].astype(float)
        if np.ptp(predicted) == 0 or np.ptp(given) == 0:
            return float("nan")  # a constant side has no rank order
        return float(spearmanr(predicted, given).statistic)

    def typical_reading(self, texts: pd.Series, ratings: pd.Series):
        """What real text of each rating reads as: an increasing curve (isotonic) of the judge's reading
        of held-out real rows against their rating, as a function `rating -> reading`.

        Ridge shrinks toward the mean (real 1-star reviews read about 2.7 stars), so a generated text
        is compared with what real text of its rating reads as, not with the rating itself; otherwise
        a strict check would drop honest low-rated rows and skew the ratings toward the middle."""
        from sklearn.isotonic import IsotonicRegression

        keep = _rated(texts, ratings)
        given = ratings[keep].astype(float).to_numpy()
        if len(np.unique(given)) < 2:
            return lambda r: np.asarray(r, float)  # one rating or none: no curve to fit
        curve = IsotonicRegression(out_of_bounds="clip").fit(given, self.predict(texts[keep]))
        return lambda r: curve.predict(np.asarray(r, float))


def text_gates(generated: pd.DataFrame, train: pd.DataFrame, validation: pd.DataFrame, text_columns: list[str],
               target: str | None) -> tuple[pd.DataFrame, dict]:
    """Per-row gate columns for `generated` and the summary reported with the output."""
    index = CopyIndex(joined_text(train, text_columns))
    texts = joined_text(generated, text_columns)
    rows = pd.DataFrame(index=generated.index)
    rows["text_exact_copy"] = [index.is_exact_copy(t) for t in texts]
    rows["text_ngram_overlap"] = [round(index.overlap(t), 4) for t in texts]
    rows["text_near_copy"] = rows["text_ngram_overlap"] >= NEAR_COPY_OVERLAP
    summary = {
        "rows": len(generated),
        "exact_copies": int(rows["text_exact_copy"].sum()),
        "near_copies": int(rows["text_near_copy"].sum()),
        "empty_texts": int((texts == "").sum()),
    }
    if target:
        judge = RatingModel.fit(joined_text(train, text_columns), train[target])
        rows["text_predicted_rating"] = np.round(judge.predict(texts), 3)
        summary["rating_consistency_generated"] = judge.consistency(texts, generated[target])
        summary["rating_consistency_real_validation"] = judge.consistency(
            joined_text(validation, text_columns), validation[target])
    return rows, summary
