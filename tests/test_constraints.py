"""Rules every train row keeps hold in generated rows: determined columns and impossible level pairs."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augment.errors import UserError
from augment.rows import clean_rows
from augment.schema import SchemaOverrides, detect_schema
from augment.tabular.constraints import MIN_ROWS_PER_LEVEL, ImpossiblePairs, determined_columns
from augment.tabular.synthesizer import GANConfig, TabularGAN
from augment.tabular.transformer import DataTransformer

TINY = GANConfig(epochs=2, batch_size=200, eval_every=1, eval_rows=200, generator_dims=(64,), critic_dims=(64,))
LEVELS = ["a", "b", "c", "d", "e", "f"]


@settings(max_examples=30, deadline=None)
@given(levels=st.integers(2, 6), rows_per_level=st.integers(MIN_ROWS_PER_LEVEL, 60),
       values=st.lists(st.integers(-5, 5), min_size=6, max_size=6), noisy=st.booleans(), seed=st.integers(0, 1000))
def test_a_column_is_determined_exactly_when_every_train_row_follows_one_value_per_level(
        levels, rows_per_level, values, noisy, seed):
    rng = np.random.default_rng(seed)
    source = rng.permutation(np.repeat(LEVELS[:levels], rows_per_level))
    column = np.array([values[LEVELS.index(s)] for s in source], dtype=float)
    if noisy:
        column[rng.integers(len(column))] += 0.5  # one row breaks the rule
    train = pd.DataFrame({"source": source, "column": column})
    found = determined_columns(train, ["source"], ["column"])
    follows = not noisy and len(set(values[:levels])) > 1
    assert [(rule.column, rule.source) for rule in found] == ([("column", "source")] if follows else [])
    if found:
        assert found[0].apply(train).astype(float).tolist() == column.tolist()


def test_a_dependency_seen_on_few_rows_per_level_is_not_taken():
    train = pd.DataFrame({"source": list("abcdefgh") * 3, "column": list(range(8)) * 3})
    assert determined_columns(train, ["source"], ["column"]) == []


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(50, 3000), skew=st.floats(0.0, 3.0))
def test_no_train_row_breaks_an_impossible_pair_found_in_train(seed, rows, skew):
    rng = np.random.default_rng(seed)
    p = np.exp(-skew * np.arange(5)); p /= p.sum()
    df = pd.DataFrame({"x": rng.choice(list("vwxyz"), rows, p=p), "y": rng.choice(list("pqr"), rows)})
    df.loc[(df["x"] == "v") & (df["y"] == "p"), "y"] = "q"  # a pair that never occurs
    transformer = DataTransformer().fit(df, [], ["x", "y"])
    matrix = transformer.transform(df, rng)
    pairs = ImpossiblePairs.fit(transformer, matrix)
    assert not pairs.violations(matrix).any()


def ruled_table(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A grade that determines its points, and a plan and a device of which two pairs never occur."""
    rng = np.random.default_rng(seed)
    grade = rng.choice(LEVELS, rows)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    device = rng.choice(["phone", "tablet", "tv"], rows)
    device[(plan == "basic") & (device == "tv")] = "phone"
    device[(plan == "pro") & (device == "phone")] = "tablet"
    return pd.DataFrame({
        "grade": grade,
        "points": [10 * (LEVELS.index(g) + 1) for g in grade],
        "plan": plan,
        "device": device,
        "minutes": np.round(rng.gamma(2.0, 30.0, rows), 1),
        "rating": rng.integers(1, 6, rows),
    })


@pytest.fixture(scope="module")
def ruled():
    df = ruled_table()
    schema = detect_schema(df, SchemaOverrides(target="rating"))
    clean, _ = clean_rows(df, schema)
    gan = TabularGAN(TINY, seed=0).fit(clean.iloc[:-300], schema, clean.iloc[-300:], progress=False)
    return gan


def broken(rows: pd.DataFrame) -> pd.Series:
    return ((rows["plan"] == "basic") & (rows["device"] == "tv")) | ((rows["plan"] == "pro") & (rows["device"] == "phone"))


def test_sampled_rows_keep_the_rules_of_the_train_rows(ruled, tmp_path):
    assert ruled.plan.determined == ["points"] and "points" not in ruled.transformer.order
    assert len(ruled.impossible.pairs) == 2
    rows = ruled.sample(2000, seed=1)
    assert (rows["points"] == [10 * (LEVELS.index(g) + 1) for g in rows["grade"]]).all()
    assert broken(rows).mean() < 0.002  # rows still breaking a rule after every redraw are kept
    # The rules travel with the saved model.
    ruled.save(tmp_path / "gan")
    again = TabularGAN.load(tmp_path / "gan").sample(2000, seed=1)
    pd.testing.assert_frame_equal(again, rows)


def test_without_the_pair_rule_two_epochs_break_it(ruled):
    """The redraws are what keeps the rule in the generator's rows: without them (and without the Gibbs
    sweep, whose classifiers learn the rule from the train rows too) it breaks."""
    kept, ruled.impossible = ruled.impossible, ImpossiblePairs()
    models, ruled.column_models = ruled.column_models, []
    try:
        assert broken(ruled.sample(2000, seed=1)).mean() > 0.02
    finally:
        ruled.impossible, ruled.column_models = kept, models


def test_conditioning_on_a_determined_column_names_its_source(ruled):
    with pytest.raises(UserError, match="follows from its grade; condition on grade instead"):
        ruled.sample(10, conditions={"points": 20})
    rows = ruled.sample(200, conditions={"grade": "b"}, seed=2)
    assert (rows["points"] == 20).all()


def test_a_condition_never_brings_an_impossible_pair(ruled):
    """Conditioned levels are checked as conditioned, not as the generator wrote them."""
    for plan in ("basic", "pro"):
        rows = ruled.sample(1000, conditions={"plan": plan}, seed=3)
        assert (rows["plan"] == plan).all() and broken(rows).mean() < 0.005


def test_rules_off_model_every_column():
    df = ruled_table(1000)
    schema = detect_schema(df, SchemaOverrides(target="rating"))
    gan = TabularGAN(GANConfig(**{**TINY.__dict__, "rules": False}), seed=0).fit(df, schema, progress=False)
    assert gan.plan.determined == [] and "points" in gan.transformer.order and gan.impossible.pairs == []
