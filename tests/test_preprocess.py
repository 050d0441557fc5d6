import numpy as np
import pandas as pd

from augment.preprocess import Preprocessor
from augment.rows import clean_rows
from augment.schema import detect_schema


def test_fit_on_train_only_and_reversible(behavior_df):
    df = behavior_df.copy()
    df.loc[[1, 5], "watch_minutes"] = np.nan
    df.loc[3, "genre"] = None
    schema = detect_schema(df)
    clean, _ = clean_rows(df, schema)
    train, other = clean.iloc[:400], clean.iloc[400:]
    prep = Preprocessor().fit(train, schema)
    assert prep.numeric["age"].median == float(train["age"].median())

    encoded = prep.transform(other)
    assert encoded["watch_minutes"].notna().all()
    back = prep.inverse_transform(prep.transform(train))
    stats = prep.numeric["watch_minutes"]
    inside = train["watch_minutes"].between(stats.low, stats.high)
    np.testing.assert_allclose(back.loc[inside, "watch_minutes"], train.loc[inside, "watch_minutes"])
    assert back.loc[[1, 5], "watch_minutes"].isna().all()
    assert pd.isna(back.loc[3, "genre"])
    assert (back["age"] == train["age"]).all()


def test_outliers_capped_and_standardized(behavior_df):
    df = behavior_df.copy()
    df.loc[0, "watch_minutes"] = 1e6
    schema = detect_schema(df)
    prep = Preprocessor().fit(df, schema)
    encoded = prep.transform(df)
    assert encoded["watch_minutes"].max() < 5
    assert abs(encoded["age"].mean()) < 1e-9


def test_json_round_trip(behavior_df):
    schema = detect_schema(behavior_df)
    prep = Preprocessor().fit(behavior_df, schema)
    again = Preprocessor.from_dict(prep.to_dict())
    pd.testing.assert_frame_equal(prep.transform(behavior_df), again.transform(behavior_df))
