"""The tabular GAN on tables of other shapes: many entities, a column of many levels, a class target."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from augment.rows import clean_rows
from augment.schema import SchemaOverrides, detect_schema
from augment.tabular.modes import MODE_COLUMN
from augment.tabular.synthesizer import GANConfig, TabularGAN
from tests.conftest import make_behavior_table

TINY = GANConfig(epochs=2, batch_size=200, eval_every=1, eval_rows=200, generator_dims=(64,), critic_dims=(64,),
                 max_levels=20)


def fit(df, overrides=None, config=TINY):
    schema = detect_schema(df, overrides)
    clean, _ = clean_rows(df, schema)
    return TabularGAN(config, seed=0).fit(clean.iloc[:-300], schema, clean.iloc[-300:], progress=False), schema


def titled(items: int) -> pd.DataFrame:
    """Behavior rows whose items each have their own title: an attribute with as many levels as items."""
    df = make_behavior_table(rows=2000, items=items)
    df["title"] = [f"Movie number {i} ({1950 + i % 50})" for i in df["item_id"]]
    return df


@pytest.mark.parametrize("items", [100, 400])
def test_many_level_entity_attributes_are_carried_not_generated(items):
    gan, schema = fit(titled(items))
    assert "title" in schema.entity_for("item_id").attributes
    assert "title" in gan.plan.carried and "title" not in gan.transformer.order
    # The title adds nothing to the networks: the same width as the table without it.
    assert gan.transformer.width == fit(titled(items).drop(columns="title"))[0].transformer.width
    rows = gan.sample(500, seed=1)
    real = titled(items).drop_duplicates("item_id").set_index("item_id")
    assert (rows["title"].to_numpy() == real.loc[rows["item_id"], "title"].to_numpy()).all()
    assert (rows["genre"].to_numpy() == real.loc[rows["item_id"], "genre"].to_numpy()).all()


def test_a_ten_thousand_level_column_fits_in_bounded_width():
    rng = np.random.default_rng(0)
    df = make_behavior_table(rows=12_000)
    # A free column of 10,000 levels: each once, and a few common ones making up the rest.
    df["zip"] = [f"z{v:05d}" for v in rng.permutation(np.r_[np.arange(10_000), rng.integers(0, 10, 2_000)])]
    gan, _ = fit(df, SchemaOverrides(roles={"zip": "categorical"}))
    column = gan.transformer.column("zip")
    assert column.levels == TINY.max_levels and len(column.rest) > 9000
    assert gan.transformer.width < 200
    rows = gan.sample(2000, seed=2)
    train = df["zip"].iloc[:-300]
    assert set(rows["zip"]) <= set(train)
    # Generated levels outside the kept ones: the tail is drawn, not collapsed into one value.
    assert rows["zip"].isin(column.rest).sum() > 0 and rows["zip"][rows["zip"].isin(column.rest)].nunique() > 10
    # Conditioning on a tail level gives exactly that value.
    rare = column.rest[0]
    assert (gan.sample(50, conditions={"zip": rare}, seed=3)["zip"] == rare).all()


def test_a_binary_target_round_trips_through_fit_condition_and_balance():
    rng = np.random.default_rng(1)
    df = make_behavior_table(rows=1500)
    df["clicked"] = (rng.random(len(df)) < 0.15 + 0.1 * (df["rating"] >= 4)).astype(int)
    gan, schema = fit(df, SchemaOverrides(target="clicked"))
    assert schema.target == "clicked" and "clicked" in gan.plan.discrete
    rows = gan.sample(600, seed=4)
    assert rows["clicked"].dtype == np.int64 and set(rows["clicked"]) <= {0, 1}
    assert (gan.sample(100, conditions={"clicked": 1}, seed=5)["clicked"] == 1).all()
    balanced = gan.sample(2000, balance="clicked", seed=6)["clicked"]
    assert balanced.dtype == np.int64 and abs(balanced.mean() - 0.5) < 0.05


def test_an_all_numeric_table_fits_and_samples(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=800)
    df = pd.DataFrame({"income": np.exp(x) * 1000, "age": rng.integers(18, 80, 800), "value": 2 * x + rng.normal(size=800)})
    gan, _ = fit(df, SchemaOverrides(target="value"))
    # No discrete column but the hidden one of the numbers' regions: one per 50 of the 500 train rows.
    assert gan.plan.discrete == [] and [c.name for c in gan.sampler.columns] == [MODE_COLUMN]
    assert gan.sampler.width == len(gan.modes.centers) == 10
    rows = gan.sample(300, seed=1)
    assert list(rows.columns) == list(df.columns) and rows.notna().all().all()
    gan.save(tmp_path)
    again = TabularGAN.load(tmp_path)
    assert again.modes == gan.modes
    pd.testing.assert_frame_equal(again.sample(300, seed=1), rows)
    plain, _ = fit(df, SchemaOverrides(target="value"), replace(TINY, modes=0))
    assert plain.modes is None and plain.sampler.width == 0
    assert list(plain.sample(50, seed=1).columns) == list(df.columns)
