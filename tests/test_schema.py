import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from augment.errors import UserError
from augment.schema import Schema, SchemaOverrides, detect_schema


def test_womens_clothing_roles_and_entity(clothing):
    schema = detect_schema(clothing)
    assert schema.target == "Rating"
    assert set(schema.text_columns) == {"Title", "Review Text"}
    assert schema.column("Clothing ID").role == "id"
    assert schema.column("Recommended IND").role == "boolean"
    assert schema.column("Age").role == "numerical"
    entity = schema.entity_for("Clothing ID")
    assert entity is not None
    assert {"Department Name", "Class Name"} <= set(entity.attributes)
    # Division Name (General vs General Petite) varies within an item: reported, not an attribute.
    assert "Division Name" not in entity.attributes
    assert 0.5 < entity.consistency["Division Name"] < 0.98


def test_declared_entity_keeps_all_three_attributes(clothing_sample):
    overrides = SchemaOverrides.from_sources(entities=["Clothing ID=Division Name,Department Name,Class Name"])
    schema = detect_schema(clothing_sample, overrides)
    entity = schema.entity_for("Clothing ID")
    assert entity.declared and entity.attributes == ["Division Name", "Department Name", "Class Name"]


def test_user_item_table_detection(behavior_df):
    schema = detect_schema(behavior_df)
    assert schema.target == "rating"
    assert schema.column("user_id").role == "id"
    assert schema.column("item_id").role == "id"
    assert schema.column("watch_minutes").dtype == "float"
    user = schema.entity_for("user_id")
    assert set(user.attributes) == {"age", "gender", "occupation"}
    assert set(schema.entity_for("item_id").attributes) == {"genre"}


def test_detection_tolerates_a_little_noise(behavior_df):
    noisy = behavior_df.copy()
    noisy.loc[noisy.index[:3], "occupation"] = "unknown"  # 0.5% of rows disagree with their user
    assert "occupation" in detect_schema(noisy).entity_for("user_id").attributes


def test_schema_json_round_trip(tmp_path, behavior_df):
    schema = detect_schema(behavior_df)
    schema.save(tmp_path / "schema.json")
    assert Schema.load(tmp_path / "schema.json") == schema


def test_partial_schema_file_and_flags_override(tmp_path, behavior_df):
    path = tmp_path / "partial.json"
    path.write_text(json.dumps({"columns": [{"name": "age", "role": "categorical"}], "entities": []}))
    overrides = SchemaOverrides.from_sources(path, target="watch_minutes", roles=["gender=text"])
    schema = detect_schema(behavior_df, overrides)
    assert schema.column("age").role == "categorical"
    assert schema.target == "watch_minutes"
    assert schema.column("rating").role == "numerical"
    assert schema.column("gender").role == "text"
    assert schema.entities == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"roles": ["age=ordinal"]}, "unknown role 'ordinal'"),
        ({"roles": ["nope=numerical"]}, "'nope' not in the data"),
        ({"target": "missing_col"}, "'missing_col' not in the data"),
        ({"entities": ["user_id=shoe_size"]}, "'shoe_size' not in the data"),
        ({"target": "gender"}, "target column 'gender' is not numeric"),
    ],
)
def test_bad_declarations(behavior_df, kwargs, message):
    with pytest.raises(UserError, match=message):
        detect_schema(behavior_df, SchemaOverrides.from_sources(**kwargs))


def test_target_all_null(behavior_df):
    with pytest.raises(UserError, match="target column 'rating' is empty"):
        detect_schema(behavior_df.assign(rating=pd.NA))


def test_unknown_role_in_schema_file(tmp_path, behavior_df):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"columns": [{"name": "age", "role": "weird"}]}))
    with pytest.raises(UserError, match="unknown role 'weird'"):
        SchemaOverrides.from_sources(path)


def test_text_column_empty_everywhere(clothing_sample):
    blank = clothing_sample.assign(Title="  ")
    with pytest.raises(UserError, match="text column 'Title' is empty in every row"):
        detect_schema(blank, SchemaOverrides.from_sources(roles=["Title=text"]))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(st.lists(st.tuples(st.integers(0, 5), st.one_of(st.none(), st.integers(0, 3))), min_size=1, max_size=60))
def test_key_attributes_gives_each_keys_most_common_value(pairs):
    from augment.schema import key_attributes

    df = pd.DataFrame(pairs, columns=["key", "value"]).astype({"value": "Int64"})
    truth = key_attributes(df, "key", ["value"])
    assert list(truth.index) == sorted(df["key"].unique()) and truth["value"].dtype == "Int64"
    def name(v):
        return "null" if pd.isna(v) else str(int(v))

    for key, group in df.groupby("key"):
        counts = group["value"].map(name).value_counts()
        assert counts[name(truth.loc[key, "value"])] == counts.max()
