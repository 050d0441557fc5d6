"""Columns drawn from p(column | the rest of the row): the target's link to the row and the Gibbs sweep."""

from dataclasses import replace

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from augment.rows import clean_rows
from augment.schema import SchemaOverrides, detect_schema
from augment.tabular.column_model import ColumnModel
from augment.tabular.synthesizer import GANConfig, TabularGAN
from augment.tabular.transformer import DataTransformer

# The target model alone (no Gibbs sweep), except where a test asks for the sweep.
TINY = GANConfig(epochs=2, batch_size=200, eval_every=1, eval_rows=200, generator_dims=(64,), critic_dims=(64,),
                 gibbs=0)
GROUPS = ["a", "b", "c", "d"]
SHARES = np.array([0.8, 0.5, 0.3, 0.1])  # of rows clicked, per group


def fit(df, target, config=TINY):
    schema = detect_schema(df, SchemaOverrides(target=target))
    clean, _ = clean_rows(df, schema)
    return TabularGAN(config, seed=0).fit(clean.iloc[:-300], schema, clean.iloc[-300:], progress=False)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(0.05, 0.95), min_size=len(GROUPS), max_size=len(GROUPS)), st.integers(0, 2**16))
@example([0.25, 0.75, 0.875, 0.25], 3191)  # once off by 0.054 on 750 rows a group
def test_drawn_classes_follow_each_rows_probability(shares, seed):
    """Fit on rows whose class is 1 with a share set per group; the draws for new rows of each group
    come out at that share."""
    rng = np.random.default_rng(seed)
    group = rng.choice(GROUPS, 6000)
    df = pd.DataFrame({"group": group, "noise": rng.normal(size=6000),
                       "label": (rng.random(6000) < pd.Series(group).map(dict(zip(GROUPS, shares)))).astype(int)})
    transformer = DataTransformer().fit(df, ["noise"], ["group", "label"])
    model = ColumnModel.fit(df, transformer, "label", ["group", "noise"], [], seed)
    rows = pd.DataFrame({"group": np.repeat(GROUPS, 2000), "noise": rng.normal(size=8000)})
    drawn = model.draw(rows, rng).astype(int).groupby(rows["group"]).mean()[GROUPS]
    seen = df.groupby("group")["label"].mean()[GROUPS]  # the shares the train rows show
    # The draws' own error: sd <= 0.011 a group; the rest is the fit's (1,500 rows a group, and a
    # feature of pure noise it may lean on a little).
    np.testing.assert_allclose(drawn.to_numpy(), seen.to_numpy(), atol=0.06)


def test_a_class_target_keeps_its_link_to_the_row_where_the_generator_alone_loses_it():
    rng = np.random.default_rng(3)
    n = 2000
    group = rng.choice(GROUPS, n)
    df = pd.DataFrame({"group": group, "minutes": np.round(rng.gamma(2.0, 30.0, n), 1),
                       "clicked": (rng.random(n) < pd.Series(group).map(dict(zip(GROUPS, SHARES)))).astype(int)})
    share = {}
    for name, config in (("model", TINY), ("generator", replace(TINY, target_model=False))):
        rows = fit(df, "clicked", config).sample(3000, seed=1)
        share[name] = rows.groupby("group")["clicked"].mean().reindex(GROUPS).to_numpy()
    # No level pair is impossible here, so the rules cannot carry the link: the shares are the model's.
    assert np.abs(share["model"] - SHARES).max() < 0.08, share
    assert np.abs(share["generator"] - SHARES).max() > 2 * np.abs(share["model"] - SHARES).max(), share


def test_a_number_target_keeps_its_link_its_marginal_and_the_conditions(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=1500)
    df = pd.DataFrame({"size": x, "colour": rng.choice(["red", "blue"], 1500),
                       "price": np.round(np.exp(1.5 * x + rng.normal(0, 0.2, 1500)) * 100, 2)})
    gan = fit(df, "price")
    assert gan.target_model is not None and gan.target_model.classes == 50
    rows = gan.sample(3000, seed=2)
    train = df.iloc[:-300]
    # The rank correlation the train rows show (about 0.99) holds in the sampled rows.
    assert rows["size"].corr(rows["price"], method="spearman") > 0.9
    assert abs(np.log(rows["price"].median() / train["price"].median())) < 0.15
    assert rows["price"].between(train["price"].min(), train["price"].max()).all()
    gan.save(tmp_path)
    assert (tmp_path / "target.safetensors").exists()
    pd.testing.assert_frame_equal(TabularGAN.load(tmp_path).sample(200, seed=3), gan.sample(200, seed=3))


def test_each_items_own_ratings_survive_though_the_generator_draws_items_from_attributes():
    """Items of one genre with different ratings of their own: the GAN models the genre, the drawn
    item's encoding carries its ratings."""
    from tests.conftest import make_behavior_table

    rng = np.random.default_rng(5)
    df = make_behavior_table(rows=3000, items=40, seed=5)
    own = rng.uniform(1.5, 4.5, 40)  # each item's mean rating
    df["rating"] = np.clip(np.round(own[df["item_id"]] + rng.normal(0, 0.7, len(df))), 1, 5).astype(int)
    means = {}
    for name, config in (("model", TINY), ("generator", replace(TINY, target_model=False))):
        gan = fit(df, "rating", config)
        rows = gan.sample(4000, seed=1)
        means[name] = rows.groupby("item_id")["rating"].mean()
    assert ("item_id", ["genre"]) in [(key, attributes) for key, attributes in gan.plan.entities]
    truth = df.iloc[:-300].groupby("item_id")["rating"].mean()
    model = means["model"].corr(truth.reindex(means["model"].index), method="spearman")
    generator = means["generator"].corr(truth.reindex(means["generator"].index), method="spearman")
    assert model > 0.8 and generator < 0.5, (model, generator)


def test_a_gibbs_sweep_brings_back_a_pair_link_the_generator_blurs(tmp_path):
    """Two columns that agree on 90% of the rows, neither the target: one sweep of drawing each again
    from p(column | the rest) restores the agreement; the models are saved with the GAN."""
    rng = np.random.default_rng(6)
    n = 2000
    a = rng.choice(GROUPS, n)
    b = np.where(rng.random(n) < 0.9, a, rng.choice(GROUPS, n))
    df = pd.DataFrame({"a": a, "b": b, "minutes": rng.gamma(2.0, 30.0, n), "stars": rng.integers(1, 6, n)})
    agreement = {}
    for name, config in (("gibbs", replace(TINY, gibbs=1)), ("generator", TINY)):
        gan = fit(df, "stars", config)
        rows = gan.sample(3000, seed=1)
        agreement[name] = (rows["a"] == rows["b"]).mean()
    assert agreement["gibbs"] > 0.8 and agreement["generator"] < agreement["gibbs"] - 0.1, agreement
    gan = fit(df, "stars", replace(TINY, gibbs=1))
    assert {m.column.name for m in gan.column_models} == {"a", "b", "minutes"}
    gan.save(tmp_path)
    pd.testing.assert_frame_equal(TabularGAN.load(tmp_path).sample(200, seed=3), gan.sample(200, seed=3))


def test_the_sweeps_draws_keep_each_columns_train_shares_on_generated_rows():
    """Each column model keeps its classes' train shares on the train rows; the calibration shifts its
    logits so it keeps them on the generated rows it is drawn for as well."""
    rng = np.random.default_rng(7)
    n = 3000
    a = rng.choice(GROUPS, n, p=[0.55, 0.25, 0.15, 0.05])
    df = pd.DataFrame({"a": a, "b": np.where(rng.random(n) < 0.7, a, rng.choice(GROUPS, n)),
                       "minutes": rng.gamma(2.0, 30.0, n) * np.where(a == "a", 1.0, 3.0),
                       "stars": rng.integers(1, 6, n)})
    gan = fit(df, "stars", replace(TINY, gibbs=1))
    shifts = {m.column.name: m.shift for m in gan.column_models}
    assert all(len(s) == m.classes for s, m in zip(shifts.values(), gan.column_models))
    assert max(np.abs(s).max() for s in shifts.values()) > 0  # the calibration moved something
    rows = gan.sample(6000, seed=1)
    train = df.iloc[:-300]
    for name in ("a", "b"):
        drawn = rows[name].value_counts(normalize=True).reindex(GROUPS, fill_value=0)
        np.testing.assert_allclose(drawn, train[name].value_counts(normalize=True).reindex(GROUPS), atol=0.03)
    # A number drawn from 50 bins of equal train share: each sampled bin's share stays near 1/50.
    edges = np.quantile(train["minutes"], np.linspace(0, 1, 11))
    shares = np.histogram(rows["minutes"].clip(edges[0], edges[-1]), edges)[0] / len(rows)
    np.testing.assert_allclose(shares, 0.1, atol=0.03)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**16))
def test_matching_the_shares_on_other_rows_gives_the_train_shares_there(seed):
    """Rows mostly of the group that clicks most: the model's own draws click far more often than the
    train rows; shifted on those rows, they click at the train share, and groups keep their order."""
    rng = np.random.default_rng(seed)
    group = rng.choice(GROUPS, 4000)
    df = pd.DataFrame({"group": group, "noise": rng.normal(size=4000),
                       "label": (rng.random(4000) < pd.Series(group).map(dict(zip(GROUPS, SHARES)))).astype(int)})
    model = ColumnModel.fit(df, DataTransformer().fit(df, ["noise"], ["group", "label"]), "label",
                            ["group", "noise"], [], seed)
    rows = pd.DataFrame({"group": rng.choice(GROUPS, 8000, p=[0.7, 0.1, 0.1, 0.1]), "noise": rng.normal(size=8000)})
    train_share = df["label"].mean()
    assert model.draw(rows, rng).astype(int).mean() > train_share + 0.15
    model.match_shares(model.logits(rows, rng))
    drawn = model.draw(rows, rng).astype(int)
    assert abs(drawn.mean() - train_share) < 0.02
    by_group = drawn.groupby(rows["group"]).mean()[GROUPS].to_numpy()
    assert (np.diff(by_group) < 0).all(), by_group


def test_the_sweeps_models_fit_on_a_sample_of_sweep_rows_and_the_targets_on_every_row(monkeypatch):
    """`sweep_rows` caps the rows each sweep model sees; the target's model keeps every train row."""
    seen = {}
    fit_model = ColumnModel.fit.__func__

    def spy(cls, train, transformer, column, *args):
        seen[column] = len(train)
        return fit_model(cls, train, transformer, column, *args)

    monkeypatch.setattr(ColumnModel, "fit", classmethod(spy))
    rng = np.random.default_rng(8)
    n = 1500
    df = pd.DataFrame({"a": rng.choice(GROUPS, n), "minutes": rng.gamma(2.0, 30.0, n), "stars": rng.integers(1, 6, n)})
    fit(df, "stars", replace(TINY, gibbs=1, sweep_rows=400))
    assert seen == {"a": 400, "minutes": 400, "stars": n - 300}
