"""Fixtures the tests build themselves; the only external data is the bundled dataset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from augment.data import read_table

OCCUPATIONS = ["student", "engineer", "artist", "doctor", "writer"]
GENRES = ["drama", "comedy", "action", "horror"]


def make_behavior_table(rows: int = 600, users: int = 60, items: int = 40, seed: int = 0) -> pd.DataFrame:
    """User/item/rating rows with a user entity (age, gender, occupation) and an item entity (genre)."""
    rng = np.random.default_rng(seed)
    user_age = rng.integers(18, 70, users)
    user_gender = rng.choice(["F", "M"], users)
    user_job = rng.choice(OCCUPATIONS, users)
    item_genre = rng.choice(GENRES, items)
    user = rng.integers(0, users, rows)
    item = rng.integers(0, items, rows)
    rating = np.clip(np.round(3 + (item_genre[item] == "drama") + rng.normal(0, 1, rows)), 1, 5).astype(int)
    return pd.DataFrame(
        {
            "user_id": [f"u{u:03d}" for u in user],
            "item_id": item,
            "age": user_age[user],
            "gender": user_gender[user],
            "occupation": user_job[user],
            "genre": item_genre[item],
            "rating": rating,
            "watch_minutes": np.round(rng.gamma(2.0, 30.0, rows), 1),
        }
    )


@pytest.fixture
def behavior_df() -> pd.DataFrame:
    return make_behavior_table()


@pytest.fixture
def behavior_csv(tmp_path, behavior_df):
    path = tmp_path / "behavior.csv"
    behavior_df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def clothing() -> pd.DataFrame:
    return read_table("womens-clothing")


@pytest.fixture(scope="session")
def clothing_sample(clothing) -> pd.DataFrame:
    return clothing.sample(2000, random_state=0).reset_index(drop=True)


PRAISE = ["love it", "great fit", "so soft", "perfect color", "would buy again", "very flattering"]
COMPLAINTS = ["poor quality", "runs small", "returned it", "thin fabric", "looks cheap", "not as pictured"]


def make_review_table(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """The behavior table plus short review texts whose tone follows the rating (fast for the LM)."""
    rng = np.random.default_rng(seed)
    df = make_behavior_table(rows=rows, seed=seed)
    texts = []
    for rating in df["rating"]:
        pool = PRAISE if rating >= 4 else COMPLAINTS if rating <= 2 else PRAISE[:2] + COMPLAINTS[:2]
        texts.append(", ".join(rng.choice(pool, size=2, replace=False)))
    df["review"] = texts
    df.loc[rng.random(rows) < 0.1, "review"] = None  # some rows have no text, as in real data
    return df


@pytest.fixture
def review_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    make_review_table().to_csv(path, index=False)
    return path
