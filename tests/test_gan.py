"""The tabular GAN on small fixtures: few epochs, so these check behavior, not fidelity (bench/ does)."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from augment.errors import UserError
from augment.rows import clean_rows
from augment.schema import detect_schema
from augment.tabular.synthesizer import GANConfig, TabularGAN
from tests.conftest import make_behavior_table

TINY = GANConfig(epochs=2, batch_size=100, eval_every=1, eval_rows=200, generator_dims=(64,), critic_dims=(64,))


def fit(df, seed=0, config=TINY):
    schema = detect_schema(df)
    clean, _ = clean_rows(df, schema)
    return TabularGAN(config, seed).fit(clean.iloc[:500], schema, clean.iloc[500:], progress=False), schema


@pytest.fixture(scope="module")
def fitted():
    df = make_behavior_table(rows=700)
    gan, schema = fit(df)
    return gan, schema, df


def test_sample_types_and_columns(fitted):
    gan, _schema, df = fitted
    rows = gan.sample(300, seed=1)
    assert len(rows) == 300
    assert list(rows.columns) == [c for c in df.columns]
    assert rows["rating"].dtype == np.int64 and rows["rating"].between(1, 5).all()
    assert rows["watch_minutes"].between(df["watch_minutes"].min(), df["watch_minutes"].max()).all()
    assert set(rows["genre"]) <= set(df["genre"])


def test_two_epochs_already_give_the_train_marginals(fitted):
    """The calibration brings an undertrained generator's columns onto the train split's marginals;
    without it the same fit is far off."""
    from scipy.stats import ks_2samp

    _, schema, df = fitted
    train = clean_rows(df, schema)[0].iloc[:500]
    # The generator's own columns: no sweep or target model redrawing them from the train rows.
    generator_only = GANConfig(**{**TINY.__dict__, "gibbs": 0, "target_model": False})
    gan = fit(df, config=generator_only)[0]
    uncalibrated = fit(df, config=GANConfig(**{**generator_only.__dict__, "calibrate": False}))[0]
    for model, bound in ((gan, 0.04), (uncalibrated, None)):
        rows = model.sample(4000, seed=5)
        gap = (rows["rating"].value_counts(normalize=True) - train["rating"].value_counts(normalize=True)).abs().max()
        ks = ks_2samp(rows["watch_minutes"], train["watch_minutes"]).statistic
        if bound is not None:
            assert gap < bound and ks < bound, (gap, ks)
        else:
            assert max(gap, ks) > 0.04, (gap, ks)


def test_entity_consistency_is_total(fitted):
    gan, _, df = fitted
    rows = gan.sample(400, seed=2)
    users = df.drop_duplicates("user_id").set_index("user_id")
    for column in ("age", "gender", "occupation"):
        assert (rows[column].to_numpy() == users.loc[rows["user_id"], column].to_numpy()).all()
    items = df.drop_duplicates("item_id").set_index("item_id")
    assert (rows["genre"].to_numpy() == items.loc[rows["item_id"], "genre"].to_numpy()).all()
    assert set(rows["user_id"]) <= set(df["user_id"])


def test_exact_conditional_counts(fitted):
    gan, _, _ = fitted
    rows = gan.sample(500, conditions={"rating": "1"}, seed=3)
    assert len(rows) == 500 and (rows["rating"] == 1).all()
    both = gan.sample(120, conditions={"rating": 2, "gender": "F", "occupation": "doctor"}, seed=3)
    assert len(both) == 120
    assert (both["rating"] == 2).all() and (both["gender"] == "F").all() and (both["occupation"] == "doctor").all()


def test_balance_flattens_the_target(fitted):
    gan, _, _ = fitted
    counts = gan.sample(1000, balance="rating", seed=4)["rating"].value_counts()
    assert set(counts.index) == {1, 2, 3, 4, 5}
    assert counts.min() > 150 and counts.max() < 250


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"conditions": {"colour": "red"}}, "colour: not a column that can be conditioned on; discrete columns: "),
        ({"conditions": {"genre": "opera"}}, "valid values: action, comedy, drama, horror"),
        ({"balance": "watch_minutes"}, "--balance watch_minutes"),
        ({"conditions": {"rating": "1"}, "balance": "rating"}, "already fixed"),
    ],
)
def test_unknown_conditions_are_clear_errors(fitted, kwargs, message):
    gan, _, _ = fitted
    with pytest.raises(UserError, match=message):
        gan.sample(10, **kwargs)


def test_same_seed_same_fit_and_samples():
    df = make_behavior_table(rows=600, seed=5)
    a, _ = fit(df, seed=11)
    b, _ = fit(df, seed=11)
    for (name, x), (_, y) in zip(a.generator.state_dict().items(), b.generator.state_dict().items()):
        assert torch.equal(x, y), name
    pd.testing.assert_frame_equal(a.sample(200, seed=1), b.sample(200, seed=1))
    assert not a.sample(200, seed=1).equals(a.sample(200, seed=2))


def test_save_load_round_trip(tmp_path, fitted):
    gan, _, _ = fitted
    gan.save(tmp_path / "gan")
    assert sorted(p.name for p in (tmp_path / "gan").iterdir()) == [
        "columns.safetensors", "config.json", "critic.safetensors", "generator.safetensors", "target.safetensors"]
    again = TabularGAN.load(tmp_path / "gan")
    pd.testing.assert_frame_equal(gan.sample(150, conditions={"genre": "drama"}, seed=9),
                                  again.sample(150, conditions={"genre": "drama"}, seed=9))


def test_a_model_saved_in_the_old_number_encoding_is_a_clear_error(tmp_path, fitted):
    gan, _, _ = fitted
    gan.save(tmp_path)
    meta = json.loads((tmp_path / "config.json").read_text())
    for column in meta["transformer"]["continuous"]:
        column.pop("quantiles")
        column |= {"means": [0.0], "stds": [1.0], "weights": [1.0], "low": 0.0, "high": 1.0}
    (tmp_path / "config.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match="fit it again"):
        TabularGAN.load(tmp_path)


def test_epoch_selection_keeps_best_validation_epoch():
    df = make_behavior_table(rows=600)
    gan, _ = fit(df, config=GANConfig(**{**TINY.__dict__, "epochs": 4, "patience": 0}))
    scored = [h for h in gan.history if "validation_quality" in h]
    assert len(scored) == 4
    assert gan.best_epoch == max(scored, key=lambda h: h["validation_quality"])["epoch"]


def test_degenerate_columns():
    df = make_behavior_table(rows=700).assign(constant=7.0, empty=np.nan, single="only")
    gan, _ = fit(df)
    rows = gan.sample(50, seed=0)
    assert (rows["constant"] == 7.0).all()
    assert rows["empty"].isna().all()
    assert (rows["single"] == "only").all()


def test_too_few_rows_is_a_clear_error():
    df = make_behavior_table(rows=60)
    schema = detect_schema(df)
    with pytest.raises(UserError, match="at least 50 train rows, got 40"):
        TabularGAN(TINY).fit(df.iloc[:40], schema)


def test_warm_start_from_an_earlier_model(fitted):
    gan, schema, _df = fitted
    newer = make_behavior_table(rows=600, seed=9)
    clean, _ = clean_rows(newer, schema)
    frozen = GANConfig(**{**TINY.__dict__, "epochs": 1, "learning_rate": 0.0})
    warm = TabularGAN(frozen, seed=3).fit(clean, schema, progress=False, init_from=gan)
    old, new = gan.generator.state_dict(), warm.generator.state_dict()
    for name in old:
        if name.endswith("weight") and "bn" not in name:
            assert torch.equal(old[name], new[name]), name
    assert [c.quantiles for c in warm.transformer.continuous] == [c.quantiles for c in gan.transformer.continuous]
    assert warm.transformer.order == gan.transformer.order
    wider = GANConfig(**{**frozen.__dict__, "generator_dims": (32,)})
    with pytest.raises(UserError, match="--init-from"):
        TabularGAN(wider).fit(clean, schema, progress=False, init_from=gan)
