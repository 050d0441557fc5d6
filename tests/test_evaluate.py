import json

import numpy as np
import pandas as pd
import pytest

from augment.cli import run_cli
from augment.evaluate.__main__ import main
from augment.evaluate.privacy import measure_privacy
from augment.evaluate.report import category_coverage, measure, range_coverage
from augment.schema import SchemaOverrides, detect_schema


def cli(*argv):
    return run_cli(main, [str(a) for a in argv])


def test_identical_tables_score_at_the_top(behavior_df):
    train, real = behavior_df.iloc[:300], behavior_df.iloc[300:]
    results = measure(real, real.copy(), detect_schema(behavior_df), train=train)
    tab = results["tabular"]
    assert tab["quality"] == pytest.approx(1.0) and tab["quality"] > tab["real_vs_real"]["quality"]
    assert tab["detection_auc"] < 0.6 and tab["detection_auc_boosting"] < 0.6
    assert tab["entity_consistency"] == {"user_id": 1.0, "item_id": 1.0}
    assert all(v == 1.0 for v in tab["category_coverage"].values())


def test_broken_table_scores_low(behavior_df):
    rng = np.random.default_rng(0)
    broken = behavior_df.copy()
    broken["age"] = rng.integers(80, 90, len(broken))  # outside the real range and off every user
    broken["genre"] = "drama"
    results = measure(behavior_df, broken, detect_schema(behavior_df))
    assert results["tabular"]["per_column"]["age"] == pytest.approx(0.0)
    assert results["tabular"]["detection_auc"] > 0.95
    assert results["tabular"]["entity_consistency"]["user_id"] == 0.0
    assert results["tabular"]["category_coverage"]["genre"] == 0.25


def test_coverage_helpers():
    assert category_coverage(pd.Series(list("abcd")), pd.Series(list("ab"))) == 0.5
    assert range_coverage(pd.Series([0.0, 10.0]), pd.Series([5.0, 20.0])) == 0.5


def test_copies_flagged_by_privacy_checks(behavior_df):
    train, holdout = behavior_df.iloc[:300], behavior_df.iloc[300:]
    continuous, discrete = ["age", "watch_minutes"], ["gender", "genre"]
    copies = measure_privacy(train, holdout, train.sample(200, random_state=0), continuous, discrete, seed=0)
    assert copies["tabular_twin_share_synthetic"] == 1.0 and copies["dcr_ratio"] < 0.01
    assert copies["membership_inference_auc"] > 0.75  # the copies give the training rows away
    fresh = measure_privacy(train, holdout.iloc[:150], holdout.iloc[150:], continuous, discrete, seed=0)
    assert 0.6 < fresh["dcr_ratio"] < 1.6 and abs(fresh["membership_inference_auc"] - 0.5) < 0.15


def test_copies_of_any_training_row_are_found_in_a_large_table():
    """More training rows than the privacy checks sample: a copy of any of them is still a twin,
    and copies sit closer to the training rows than to held-out ones. The DCR share compares
    equal-size samples (2,000 of the 6,000 training rows hold a third of the copies): 1/3 + 2/3 * 0.5."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=9000).round(3), "y": rng.exponential(size=9000).round(3),
                          "level": rng.choice(list("abcdefgh"), 9000)})
    train, holdout = table.iloc[:6000], table.iloc[6000:8000]
    copies = measure_privacy(train, holdout, train.tail(500), ["x", "y"], ["level"], seed=0)
    assert copies["tabular_twin_share_synthetic"] == 1.0 and copies["dcr_share"] > 0.6
    fresh = measure_privacy(train, holdout, table.iloc[8000:], ["x", "y"], ["level"], seed=0)
    assert fresh["tabular_twin_share_synthetic"] < 0.05 and abs(fresh["dcr_share"] - 0.5) < 0.06


def test_cli_writes_three_reports(tmp_path, behavior_df):
    real, synthetic = tmp_path / "real.csv", tmp_path / "syn.parquet"
    behavior_df.iloc[:300].to_csv(real, index=False)
    behavior_df.iloc[300:].to_parquet(synthetic)
    assert cli("--real", real, "--synthetic", synthetic, "--out", tmp_path / "rep") == 0
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert report["rows"] == {"real": 300, "synthetic": 300, "train": 150, "reference": 150}  # half stands in
    html = (tmp_path / "rep" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 11 and "http" not in html  # 6 columns, pair heatmap, 4 strongest pairs
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "| detection ROC AUC, gradient boosting |" in md and md.count("| at most 0.7 (0.5: indistinguishable) |") == 2
    assert report["verdict"] in md and report["verdict"] in html
    made = report["provenance"]
    assert made["inputs"]["real"]["sha256"] and made["seed"] == 0 and made["tool_version"] in html


def _verdict_and_marks(real, synthetic, train, schema):
    from augment.evaluate.report import summary_rows, verdict

    rows = summary_rows(measure(real, synthetic, schema, seed=0, train=train))
    return verdict(rows), {row["score"]: row["mark"] for row in rows}


def test_marks_tell_a_faithful_table_from_copies_and_broken_pairs(behavior_df):
    """A real holdout passes everything; copies of the train rows fail privacy; columns shuffled
    independently (every shape kept, every pair broken) fail pair trends and detection."""
    schema = detect_schema(behavior_df)
    train, real, holdout = behavior_df.iloc[:200], behavior_df.iloc[200:400], behavior_df.iloc[400:]
    decision, marks = _verdict_and_marks(real, holdout, train, schema)
    assert set(marks.values()) == {"pass"} and decision.startswith("Fit to augment a training set and to share")
    decision, marks = _verdict_and_marks(real, train.sample(200, random_state=1), train, schema)
    assert marks["DCR ratio, synthetic / real held-out"] == "warn" and "not to share" in decision
    rng = np.random.default_rng(0)
    shuffled = holdout.apply(lambda column: column.sample(frac=1, random_state=rng.integers(1 << 30)).to_numpy())
    decision, marks = _verdict_and_marks(real, shuffled, train, schema)
    assert marks["column pair trends"] == "warn" and marks["column shapes"] == "pass"
    assert decision.startswith("Not fit") and "column pair trends" in decision


@pytest.mark.parametrize("change, message", [
    (lambda df: df.drop(columns=["genre"]), "columns differ"),
    (lambda df: df.drop(columns=["review"]), "missing in synthetic ['review']"),
    (lambda df: df.head(0), "has a header but no rows"),
    (lambda df: df.head(3), "the synthetic table has 3 usable rows; the report needs at least 10"),
])
def test_cli_bad_input(tmp_path, behavior_df, capsys, change, message):
    real, synthetic = tmp_path / "real.csv", tmp_path / "syn.csv"
    table = behavior_df.assign(review=[f"review number {i} of many" for i in range(len(behavior_df))])  # text
    table.to_csv(real, index=False)
    change(table).to_csv(synthetic, index=False)
    assert cli("--real", real, "--synthetic", synthetic, "--out", tmp_path / "rep") == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "rep").exists()


def test_text_section_and_its_floors(tmp_path):
    from tests.conftest import make_review_table

    table = make_review_table(rows=600)
    schema = detect_schema(table, SchemaOverrides.from_sources(roles=["review=text"]))
    train, real, good = table.iloc[:300], table.iloc[300:450], table.iloc[450:]
    bad = good.assign(review="the the the the")  # one repeated text, unrelated to the rating
    on_good = measure(real, good, schema, train=train)
    on_bad = measure(real, bad, schema, train=train)
    assert on_good["text"]["embedding"]["frechet"] < on_bad["text"]["embedding"]["frechet"]
    assert on_good["text"]["embedding"]["mmd"] < on_bad["text"]["embedding"]["mmd"]
    assert on_good["text"]["distinct_2"]["synthetic"] > on_bad["text"]["distinct_2"]["synthetic"]
    assert on_good["text"]["rating_consistency"]["synthetic"] > 0.5
    assert np.isnan(on_bad["text"]["rating_consistency"]["synthetic"]) or \
        on_bad["text"]["rating_consistency"]["synthetic"] < 0.2
    assert on_bad["privacy"]["text_copies"]["exact"] == 0
    copied = measure(real, train.iloc[:100], schema, train=train)
    assert copied["privacy"]["text_copies"]["exact"] == copied["privacy"]["text_copies"]["rows"] - \
        int(train.iloc[:100]["review"].isna().sum())
    tstr = on_good["utility"]["train_on_synthetic_test_on_real"]
    assert tstr["rmse_trained_on_synthetic"] < tstr["rmse_mean_predictor"]
