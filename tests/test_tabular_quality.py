import warnings

import numpy as np
import pandas as pd
import pytest

with warnings.catch_warnings():  # the single-table report is the one SDV users run
    warnings.simplefilter("ignore", FutureWarning)
    from sdmetrics.reports.single_table import QualityReport

from augment.evaluate.tabular import quality

CONTINUOUS = ["Age", "Positive Feedback Count"]
DISCRETE = ["Rating", "Recommended IND", "Division Name", "Department Name", "Class Name"]


def sdmetrics_quality(real, synthetic):
    metadata = {
        "columns": {
            **{name: {"sdtype": "numerical"} for name in CONTINUOUS},
            **{name: {"sdtype": "categorical"} for name in DISCRETE},
        }
    }
    report = QualityReport()
    report.generate(real, synthetic, metadata, verbose=False)
    props = report.get_properties().set_index("Property")["Score"]
    return report.get_score(), props["Column Shapes"], props["Column Pair Trends"]


@pytest.fixture(scope="module")
def tables(clothing):
    columns = CONTINUOUS + DISCRETE
    real = clothing[columns].sample(1500, random_state=1).reset_index(drop=True)
    rng = np.random.default_rng(0)
    other = clothing[columns].sample(1500, random_state=2).reset_index(drop=True)
    # A worse synthetic table: shuffle some columns independently to break pair trends.
    broken = other.copy()
    for name in ("Rating", "Age", "Class Name"):
        broken[name] = rng.permutation(broken[name].to_numpy())
    return real, other, broken


@pytest.mark.parametrize("which", [1, 2])
def test_agrees_with_sdmetrics(tables, which):
    real, synthetic = tables[0], tables[which]
    ours = quality(real, synthetic, CONTINUOUS, DISCRETE)
    score, shapes, pairs = sdmetrics_quality(real, synthetic)
    assert ours.shapes == pytest.approx(shapes, abs=1e-6)
    assert ours.pair_trends == pytest.approx(pairs, abs=1e-6)
    assert ours.quality == pytest.approx(score, abs=1e-6)


def test_identical_tables_score_one_and_disjoint_score_low():
    real = pd.DataFrame({"x": np.arange(100.0), "c": ["a", "b"] * 50})
    assert quality(real, real.copy(), ["x"], ["c"]).quality == pytest.approx(1.0)
    disjoint = pd.DataFrame({"x": np.arange(1000.0, 1100.0), "c": ["z"] * 100})
    scores = quality(real, disjoint, ["x"], ["c"])
    assert scores.shapes == pytest.approx(0.0, abs=1e-6)


def test_three_column_accuracy_sees_what_pairs_cannot(tables):
    from augment.evaluate.tabular import three_column_accuracy

    real, other, broken = tables
    assert three_column_accuracy(real, real.copy(), CONTINUOUS, DISCRETE) == pytest.approx(1.0)
    faithful = three_column_accuracy(real, other, CONTINUOUS, DISCRETE)
    assert faithful > three_column_accuracy(real, broken, CONTINUOUS, DISCRETE) + 0.02
    # An XOR of three coins: every pair is independent (pair scores are perfect), the triple is not.
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, 4000), rng.integers(0, 2, 4000)
    xor = pd.DataFrame({"a": a, "b": b, "c": a ^ b}).astype(str)
    independent = pd.DataFrame({"a": a, "b": b, "c": rng.integers(0, 2, 4000)}).astype(str)
    assert three_column_accuracy(xor, independent, [], ["a", "b", "c"]) < 0.6
    assert three_column_accuracy(xor, xor.sample(frac=1, random_state=1), [], ["a", "b", "c"]) == pytest.approx(1.0)
