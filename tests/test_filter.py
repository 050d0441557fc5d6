"""The quality filter on fixtures built to trigger each reject reason (tabular features, text statistics)."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augment.errors import UserError
from augment.filter import FilterConfig, admission_probability, discriminator_scores, filter_rows
from augment.preprocess import Preprocessor
from augment.rows import clean_rows
from augment.schema import detect_schema

FAST = FilterConfig(use_text_embeddings=False, real_rows=600)


@pytest.fixture(scope="module")
def setting(clothing_sample):
    schema = detect_schema(clothing_sample)
    clean, _ = clean_rows(clothing_sample, schema)
    train, holdout = clean.iloc[:1200], clean.iloc[1200:1600]
    return schema, train, holdout, Preprocessor().fit(train, schema)


def test_cross_fitting_scores_each_row_without_itself():
    rng = np.random.default_rng(0)
    real, synthetic = rng.normal(size=(200, 4)), rng.normal(0.3, 1, size=(150, 4))
    real_ids, synthetic_ids = np.arange(200), np.arange(150)
    _, base = discriminator_scores(real, synthetic, real_ids, synthetic_ids, 5, seed=0)
    # Change row 7 drastically: the model that scores row 7 never saw it, so rows scored by that
    # same model (row 7's fold) keep their scores, while every other fold's model moves.
    from augment.filter import row_folds
    folds = row_folds([f"synthetic-{i}" for i in synthetic_ids], 5)
    moved = synthetic.copy()
    moved[7] = 50.0
    _, after = discriminator_scores(real, moved, real_ids, synthetic_ids, 5, seed=0)
    same_fold = (folds == folds[7]) & (np.arange(150) != 7)
    np.testing.assert_allclose(after[same_fold], base[same_fold])
    assert not np.allclose(after[folds != folds[7]], base[folds != folds[7]])
    # Removing row 7 altogether leaves its fold-mates' scores as they were, too.
    keep = np.arange(150) != 7
    _, without = discriminator_scores(real, synthetic[keep], real_ids, synthetic_ids[keep], 5, seed=0)
    np.testing.assert_allclose(without[same_fold[keep]], base[same_fold])


def test_admission_modes():
    p = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    assert admission_probability(p, FilterConfig(mode="threshold", threshold=0.5)).tolist() == [0, 0, 1, 1, 1]
    assert admission_probability(p, FilterConfig(mode="top", top_fraction=0.4)).tolist() == [0, 0, 0, 1, 1]
    drs = admission_probability(p, FilterConfig(mode="rejection", ratio_quantile=1.0))
    assert drs[-1] == 1.0 and np.all(np.diff(drs) > 0)
    assert drs[0] == pytest.approx((0.1 / 0.9) / 9.0)


def test_each_reject_reason_fires(setting):
    schema, train, holdout, prep = setting
    rows = holdout.iloc[:40].copy()
    rows.index = [f"s{i}" for i in range(len(rows))]
    rows.loc["s0", "Age"] = 500  # invalid: out of bounds
    rows.loc["s1", "Class Name"] = "Space suits"  # invalid: unknown level
    rows.loc["s2", ["Title", "Review Text"]] = train.iloc[5][["Title", "Review Text"]].to_numpy()  # text copy
    copied = train.iloc[9]
    rows.loc["s3"] = copied.to_numpy()  # tabular twin (and text copy: the first reason wins)
    rows.loc["s4", ["Title", "Review Text"]] = train.iloc[9][["Title", "Review Text"]].to_numpy()
    rows.loc["s4", ["Title", "Review Text"]] = ["Terrible", ("Awful, cheap, returned it, worst quality ever. "
                                                           "Disappointed, poor fit, ripped, do not buy.")]
    rows.loc["s4", "Rating"] = 5  # rating contradiction
    out, _summary = filter_rows(rows, train, holdout, schema, prep, FilterConfig(**{**FAST.__dict__,
                                                                                  "mode": "none"}), seed=0)
    reasons = out["reject_reason"]
    assert reasons["s0"] == reasons["s1"] == "invalid"
    assert reasons["s2"] == "text_copy"
    assert reasons["s3"] == "text_copy" and out.loc["s3", "distance_to_closest_train"] == 0
    assert reasons["s4"] == "rating_contradiction"
    assert (reasons.iloc[5:] == "").mean() > 0.8, "untouched real held-out rows mostly pass"


def test_too_close_fires_on_tabular_twins(behavior_df):
    schema = detect_schema(behavior_df)
    train, holdout = behavior_df.iloc[:400], behavior_df.iloc[400:]
    prep = Preprocessor().fit(train, schema)
    rows = pd.concat([train.iloc[:30], holdout.iloc[:30]], ignore_index=True)
    out, summary = filter_rows(rows, train, holdout, schema, prep, FilterConfig(**{**FAST.__dict__, "mode": "none"}))
    assert (out["reject_reason"].iloc[:30] == "too_close").all()
    assert (out["reject_reason"].iloc[30:] == "too_close").mean() < 0.2
    assert summary["too_close_floor"] > 0


def test_discriminator_rejects_what_it_can_tell_apart(setting):
    schema, train, holdout, prep = setting

    fake = holdout.iloc[:200].copy()
    fake.index = [f"f{i}" for i in range(200)]
    fake.iloc[:100, fake.columns.get_loc("Age")] = 75  # half of the rows easy to tell apart
    fake.iloc[:100, fake.columns.get_loc("Positive Feedback Count")] = 40
    out, summary = filter_rows(fake, train, holdout, schema, prep, FAST, seed=1)
    assert out["score_p_real"].iloc[:100].mean() < out["score_p_real"].iloc[100:].mean()
    rejected = out["reject_reason"] == "discriminator"
    assert rejected.iloc[:100].mean() > rejected.iloc[100:].mean()
    assert summary["rejected_by"]["discriminator"] == int(rejected.sum())


def test_strict_rating_check_keeps_honest_low_ratings(setting, clothing_sample):
    """Real unseen rows pass a strict rating check about as often at 1-2 stars as at 4-5: each text
    is compared with what real text of its rating reads as, since the ridge judge reads real 1-star
    reviews as about 2.7 stars (compared with the rating itself, most of them would be dropped)."""
    schema, train, holdout, prep = setting
    unseen, _ = clean_rows(clothing_sample, schema)
    unseen = unseen.iloc[1600:2400]
    out, _ = filter_rows(unseen, train, holdout, schema, prep,
                         FilterConfig(**{**FAST.__dict__, "mode": "none", "max_rating_gap": 1.0}), seed=0)
    passed = out["reject_reason"] != "rating_contradiction"
    low, high = unseen["Rating"] <= 2, unseen["Rating"] >= 4
    assert low.sum() >= 30
    assert passed[low].mean() > 0.6 and passed[high].mean() > 0.6
    assert abs(passed[low].mean() - passed[high].mean()) < 0.2


@settings(max_examples=25, deadline=None, derandomize=True)
@given(st.lists(st.floats(0.001, 0.999), min_size=20, max_size=300), st.floats(0.05, 0.9))
def test_drs_admits_its_target_share_and_keeps_the_order(scores, target):
    p = np.array(scores)
    accept = admission_probability(p, FilterConfig(mode="drs", target_acceptance=target))
    assert np.all((accept >= 0) & (accept <= 1))
    assert accept.mean() == pytest.approx(target, abs=0.01)
    order = np.argsort(p)
    assert np.all(np.diff(accept[order]) >= -1e-12)  # a more realistic row is never less likely admitted
    # A chunk scored later is treated as the reference rows are: same P(real), same chance.
    again = admission_probability(p[:5], FilterConfig(mode="drs", target_acceptance=target), reference=p)
    np.testing.assert_allclose(again, accept[:5])


def test_the_command_line_offers_every_filter_mode():
    from augment.__main__ import build_parser
    from augment.filter import FILTER_MODES

    _, commands = build_parser()
    actions = [a for command in commands.values() for a in command._actions if a.dest == "filter_mode"]
    assert actions and all(tuple(a.choices) == FILTER_MODES for a in actions)
    with pytest.raises(UserError):
        FilterConfig(mode="best")
