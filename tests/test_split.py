import numpy as np
import pytest

from augment.errors import UserError
from augment.runs import RunDir
from augment.split import limit_split, load_split, save_split, split_rows


def test_same_seed_same_ids_other_seed_other_ids(behavior_df):
    a = split_rows(behavior_df, "rating", seed=7)
    b = split_rows(behavior_df, "rating", seed=7)
    c = split_rows(behavior_df, "rating", seed=8)
    for name in a:
        assert np.array_equal(a[name], b[name])
    assert not np.array_equal(a["train"], c["train"])


def test_disjoint_complete_and_proportioned(behavior_df):
    split = split_rows(behavior_df, "rating", seed=0)
    ids = np.concatenate(list(split.values()))
    assert len(ids) == len(set(ids)) == len(behavior_df)
    assert set(ids) == set(behavior_df.index)
    assert abs(len(split["train"]) / len(behavior_df) - 0.70) < 0.02
    assert abs(len(split["test"]) / len(behavior_df) - 0.15) < 0.02


def test_stratified_on_target(clothing):
    split = split_rows(clothing, "Rating", seed=0)
    overall = clothing["Rating"].value_counts(normalize=True)
    for ids in split.values():
        share = clothing.loc[ids, "Rating"].value_counts(normalize=True)
        assert (share - overall).abs().max() < 0.005


def test_grouped_split_keeps_each_user_in_one_split(behavior_df):
    split = split_rows(behavior_df, "rating", seed=0, group_by="user_id")
    users = {name: set(behavior_df.loc[ids, "user_id"]) for name, ids in split.items()}
    assert users["train"].isdisjoint(users["validation"])
    assert users["train"].isdisjoint(users["test"])
    assert users["validation"].isdisjoint(users["test"])
    assert sum(len(ids) for ids in split.values()) == len(behavior_df)
    assert 0.6 < len(split["train"]) / len(behavior_df) < 0.8


def test_too_few_rows(behavior_df):
    with pytest.raises(UserError, match="too few usable rows to split"):
        split_rows(behavior_df.head(10), "rating", seed=0)


def test_saved_and_loaded(tmp_path, behavior_df):
    split = split_rows(behavior_df, "rating", seed=0)
    run = RunDir(tmp_path)
    save_split(run, split)
    loaded = load_split(run)
    for name in split:
        assert np.array_equal(split[name], loaded[name])


def test_limited_split_is_a_stratified_subset_with_the_whole_test_split(clothing):
    full = split_rows(clothing, "Rating", seed=0)
    limited = limit_split(full, clothing["Rating"], train_rows=500, seed=0)
    assert len(limited["train"]) == 500 and len(limited["validation"]) == 107  # 500 x 15/70
    assert np.array_equal(limited["test"], full["test"])
    for name in ("train", "validation"):
        assert set(limited[name]) <= set(full[name]) and len(set(limited[name])) == len(limited[name])
    overall = clothing.loc[full["train"], "Rating"].value_counts(normalize=True)
    share = clothing.loc[limited["train"], "Rating"].value_counts(normalize=True)
    assert (share - overall).abs().max() < 0.005
    again = limit_split(full, clothing["Rating"], train_rows=500, seed=0)
    assert all(np.array_equal(limited[name], again[name]) for name in limited)
    other = limit_split(full, clothing["Rating"], train_rows=500, seed=1)
    assert not np.array_equal(limited["train"], other["train"])


@pytest.mark.parametrize("train_rows", [5, 10_000])
def test_limited_split_needs_a_smaller_train_split(behavior_df, train_rows):
    full = split_rows(behavior_df, "rating", seed=0)
    with pytest.raises(UserError, match="--train-rows"):
        limit_split(full, behavior_df["rating"], train_rows=train_rows, seed=0)
