import numpy as np

from augment.rows import clean_rows
from augment.schema import SchemaOverrides, detect_schema


def test_row_policy_counts_every_problem(behavior_df):
    schema = detect_schema(behavior_df, SchemaOverrides(bounds={"rating": (1, 5), "age": (18, 80)}))
    messy = behavior_df.astype({"age": object, "rating": object})
    messy.loc[0, "rating"] = None
    messy.loc[1, "rating"] = "five"
    messy.loc[2, "rating"] = 9
    messy.loc[3, "age"] = "old"
    messy.loc[4, "age"] = 120
    before = messy.copy()
    clean, report = clean_rows(messy, schema)

    assert report.rows_in == len(messy) and report.rows_kept == len(messy) - 3
    assert sorted(report.dropped.values()) == [1, 1, 1]
    assert report.nulled["age"] == {"unparseable": 1, "out-of-range [18, 80]": 1}
    assert {0, 1, 2}.isdisjoint(clean.index)
    assert np.isnan(clean.loc[3, "age"]) and np.isnan(clean.loc[4, "age"])
    assert messy.equals(before), "the input rows are never altered"


def test_booleans_normalized(clothing_sample):
    schema = detect_schema(clothing_sample)
    messy = clothing_sample.astype({"Recommended IND": object})
    messy.loc[0, "Recommended IND"] = "maybe"
    clean, report = clean_rows(messy, schema)
    assert report.nulled["Recommended IND"] == {"unrecognized boolean": 1}
    assert clean["Recommended IND"].isna().sum() == 1
    assert set(clean["Recommended IND"].dropna().unique()) == {True, False}
