"""Hostile input, generated: malformed tables, schema files, config files and flag values over the
commands. Whatever comes in, a command exits 0 or 2, never with a traceback; a refusal is one line
on stderr and leaves nothing at the output path; real rows come out exactly as they went in."""

import contextlib
import io
import json
import math
import string
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from augment.__main__ import main
from augment.cli import run_cli
from augment.data import read_table
from augment.runs import TEMPORARY

SETTINGS = settings(max_examples=15, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

NAMES = st.text(alphabet=string.ascii_letters + " $|_-<>*`é", min_size=1, max_size=8)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([1e300, -1e300, 1e16, float("inf")]),
    st.text(alphabet=string.printable + "é€$|\t", max_size=12),
)


@contextlib.contextmanager
def fresh_folder():
    """A new folder per generated example (pytest's tmp_path is shared by all of a test's examples)."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def call(*argv) -> tuple[int, str]:
    """Run a command in this process: (status, stderr). An uncaught exception fails the test."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = run_cli(main, [str(a) for a in argv])
        except SystemExit as exit_:  # argparse's refusal of a flag, one line on stderr
            status = exit_.code
    return status, err.getvalue()


def assert_refused_cleanly(status: int, err: str, *outputs: Path) -> None:
    assert status in (0, 2), err
    if status == 2:
        assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err, err
        for out in outputs:
            assert not out.exists(), f"{out} written by a failed command"
    for out in outputs:
        folder = out.parent
        debris = [p for p in folder.rglob("*") if p.name.endswith(".parts") or TEMPORARY.match(p.name)]
        assert not debris, debris


@st.composite
def tables(draw, min_rows=0):
    """A DataFrame of arbitrary scalar columns, sometimes with a 1-5 rating and a text column."""
    rows = draw(st.integers(min_rows, 40))
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    columns = {name: draw(st.lists(SCALARS, min_size=rows, max_size=rows)) for name in names}
    if draw(st.booleans()):
        columns["rating"] = draw(st.lists(st.one_of(st.integers(1, 5), SCALARS), min_size=rows, max_size=rows))
    if draw(st.booleans()):
        columns["review"] = [f"review number {i} says {'good' if i % 2 else 'bad'} things" for i in range(rows)]
    return pd.DataFrame(columns)


def write(df: pd.DataFrame, path: Path) -> bool:
    """Write `df` in `path`'s format; False when that format cannot hold it (mixed types in Parquet)."""
    try:
        if path.suffix == ".csv":
            df.to_csv(path, index=False)
        elif path.suffix == ".jsonl":
            df.to_json(path, orient="records", lines=True)
        else:
            df.astype({c: object for c in df.columns}).to_parquet(path)
    except (ValueError, TypeError, OverflowError, Exception):  # noqa: BLE001 - pyarrow's own errors included
        return False
    return True


@SETTINGS
@given(df=tables(), suffix=st.sampled_from([".csv", ".jsonl", ".parquet"]))
def test_inspect_any_table(df, suffix):
    with fresh_folder() as folder:
        path = folder / f"t{suffix}"
        assume(write(df, path))
        status, err = call("inspect", path, "--json")
        assert_refused_cleanly(status, err)


@SETTINGS
@given(df=tables(min_rows=20), suffix=st.sampled_from([".csv", ".jsonl", ".parquet"]))
def test_prepare_and_export_keep_real_rows_exactly(df, suffix):
    with fresh_folder() as folder:
        path, run, out = folder / f"t{suffix}", folder / "run", folder / "export"
        assume(write(df, path))
        status, err = call("fit", path, "--out", run, "--stage", "prepare")
        assert_refused_cleanly(status, err, run)
        if status:
            return
        assert call("export", "--run", run, "--out", out)[0] == 0
        source = read_table(path)
        exported = pd.concat([pd.read_parquet(out / name / f"{name}.parquet") for name in ("train", "validation", "test")])
        ids = np.concatenate([np.loadtxt(run / "split" / f"{n}.ids", dtype=int, ndmin=1)
                              for n in ("train", "validation", "test")])
        expected = source.iloc[ids].reset_index(drop=True)
        pd.testing.assert_frame_equal(nulls_as_none(exported[list(source.columns)].reset_index(drop=True)),
                                      nulls_as_none(expected), check_dtype=False)


def nulls_as_none(df: pd.DataFrame) -> pd.DataFrame:
    """One spelling of null in text columns: a file's null reads back as None or NaN depending on the format."""
    out = df.copy()
    for name in out.columns[out.dtypes == object]:
        out[name] = out[name].astype(object).where(out[name].notna(), None)
    return out


JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)
SCHEMA_VALUES = st.fixed_dictionaries({}, optional={
    "columns": st.one_of(JSON, st.lists(st.fixed_dictionaries({}, optional={
        "name": st.one_of(st.sampled_from(["a", "rating", "nope"]), JSON),
        "role": st.one_of(st.sampled_from(["id", "text", "target", "numerical", "bogus"]), JSON),
        "min": JSON, "max": JSON}), max_size=3)),
    "entities": st.one_of(JSON, st.lists(st.fixed_dictionaries({}, optional={
        "key": st.one_of(st.sampled_from(["a", "b"]), JSON),
        "attributes": st.one_of(st.lists(st.sampled_from(["a", "b", "rating"])), JSON)}), max_size=2)),
})


@pytest.fixture
def small_table(tmp_path):
    path = tmp_path / "small.csv"
    pd.DataFrame({"a": list("xyz") * 10, "b": range(30), "rating": [1, 2, 3, 4, 5] * 6}).to_csv(path, index=False)
    return path


@SETTINGS
@given(schema=st.one_of(SCHEMA_VALUES, JSON))
def test_any_schema_file(small_table, schema):
    with fresh_folder() as folder:
        path = folder / "schema.json"
        path.write_text(json.dumps(schema))
        status, err = call("inspect", small_table, "--schema", path)
        assert_refused_cleanly(status, err)


CONFIG_VALUES = st.one_of(st.integers(-5, 10**20), st.booleans(), st.text(string.ascii_letters, max_size=6),
                          st.floats(allow_nan=True, allow_infinity=True), st.lists(st.integers(-2, 3), max_size=2))


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(map(toml_value, value)) + "]"
    return repr(value)


@SETTINGS
@given(settings_=st.dictionaries(st.sampled_from(["epochs", "stage", "seed", "profile", "rows", "group-by",
                                                  "train-rows", "json", "nonsense"]), CONFIG_VALUES, max_size=3))
def test_any_config_file(small_table, settings_):
    with fresh_folder() as folder:
        config, run = folder / "c.toml", folder / "run"
        config.write_text("".join(f"{key} = {toml_value(value)}\n" for key, value in settings_.items()))
        status, err = call("fit", small_table, "--out", run, "--stage", "prepare", "--config", config)
        assert_refused_cleanly(status, err, run)
    if "epochs" in settings_ and not (isinstance(settings_["epochs"], int) and not isinstance(settings_["epochs"], bool)
                                      and settings_["epochs"] >= 1):
        assert status == 2, "a bad epochs value from --config is refused as the flag's would be"


@SETTINGS
@given(seed=st.one_of(st.integers(-10**25, 10**25), st.text(max_size=4)),
       ratio=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4)))
def test_any_flag_value(small_table, seed, ratio):
    with fresh_folder() as folder:
        status, err = call("fit", small_table, "--out", folder / "run", "--stage", "prepare", f"--seed={seed}")
        assert status in (0, 2) and (status == 0) == (isinstance(seed, int) and 0 <= seed < 2**32), err
        status, err = call("train", "--data", small_table, f"--ratios={ratio}", "--out", folder / "r")
        assert status == 2 and err.count("\n") == 1, err  # a bad ratio, or (when it is fine) a table with no text: refused either way


def test_a_changed_input_is_refused(tmp_path, small_table):
    run = tmp_path / "run"
    assert call("fit", small_table, "--out", run, "--stage", "prepare")[0] == 0
    table = pd.read_csv(small_table)
    table.iloc[::-1].to_csv(small_table, index=False)  # the same rows, reordered
    status, err = call("export", "--run", run, "--out", tmp_path / "export")
    assert status == 2 and "changed since" in err and not (tmp_path / "export").exists()


def test_reserved_and_nested_columns_are_refused(tmp_path):
    table = pd.DataFrame({"x": range(30), "rating": [1, 2, 3] * 10})
    table.assign(is_synthetic=True).to_csv(tmp_path / "a.csv", index=False)
    status, err = call("inspect", tmp_path / "a.csv")
    assert status == 2 and "'is_synthetic'" in err
    table.assign(tags=[[1, 2]] * 30).to_json(tmp_path / "b.jsonl", orient="records", lines=True)
    status, err = call("inspect", tmp_path / "b.jsonl")
    assert status == 2 and "column 'tags' holds a list" in err


def test_a_nul_byte_in_a_csv_is_refused_not_cut(tmp_path):
    (tmp_path / "n.csv").write_bytes(b"a,rating\nfirst\x00second,1\n" + b"x,2\n" * 30)
    status, err = call("inspect", tmp_path / "n.csv")
    assert status == 2 and "NUL byte" in err


def test_a_parquet_index_is_kept_as_a_column_and_rows_by_position(tmp_path):
    table = pd.DataFrame({"x": np.arange(30) * 2, "rating": [1, 2, 3] * 10},
                         index=pd.Index(np.arange(100, 130), name="row_id"))
    table.to_parquet(tmp_path / "t.parquet")  # pandas stores the index
    read = read_table(tmp_path / "t.parquet")
    assert list(read.columns) == ["row_id", "x", "rating"] and read.index.equals(pd.RangeIndex(30))


def test_outputs_cannot_replace_the_runs_own_files(tmp_path, small_table):
    run = tmp_path / "run"
    assert call("fit", small_table, "--out", run, "--stage", "prepare")[0] == 0
    status, err = call("export", "--run", run, "--out", run / "split")
    assert status == 2 and "the run's own split" in err


def test_a_filter_failing_after_its_first_chunk_leaves_no_parts(tmp_path, small_table):
    run, out = tmp_path / "run", tmp_path / "admitted.parquet"
    assert call("fit", small_table, "--out", run, "--stage", "prepare")[0] == 0
    rows = tmp_path / "rows.jsonl"
    good = pd.read_csv(small_table).to_json(orient="records", lines=True)
    rows.write_text(good + '{"a": "x", "b": 1, "rating": 3}\nnot json at all\n')
    status, err = call("filter", "--run", run, "--input", rows, "--out", out, "--chunk-rows", 10,
                       "--filter-mode", "none")
    assert_refused_cleanly(status, err, out)
    assert status == 2 and "rows.jsonl" in err


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    from augment.runs import _host, remove_stale_temporaries

    dead = tmp_path / f".out.parquet.{_host()}-999999.abcd1234.tmp"  # no such process
    mine = tmp_path / f".out.parquet.{_host()}-{__import__('os').getpid()}.abcd1234.tmp"
    other_host = tmp_path / ".out.parquet.elsewhere-999999.abcd1234.tmp"
    for path in (dead, mine, other_host):
        path.write_text("partial")
    assert remove_stale_temporaries(tmp_path) == 1
    assert not dead.exists() and mine.exists() and other_host.exists()


def test_the_report_takes_markup_and_infinite_numbers_in_its_stride(tmp_path):
    rng = np.random.default_rng(0)
    real = pd.DataFrame({"price $": rng.normal(10, 2, 80), "a | b": rng.choice(["x$", "y|z", "<b>w</b>"], 80),
                         "huge": rng.normal(0, 1, 80), "rating": rng.integers(1, 6, 80)})
    real.loc[:3, "huge"] = [1e300, -np.inf, np.inf, 1e16]
    real.to_csv(tmp_path / "real.csv", index=False)
    real.sample(frac=1, random_state=1).to_csv(tmp_path / "synthetic.csv", index=False)
    status, err = call("evaluate", "--real", tmp_path / "real.csv", "--synthetic", tmp_path / "synthetic.csv",
                       "--out", tmp_path / "report")
    assert status == 0, err
    assert {p.name for p in (tmp_path / "report").iterdir()} == {"report.html", "report.json", "report.md"}
    assert "a | b" in (tmp_path / "report" / "report.html").read_text()
    from augment.evaluate.report import _md

    assert _md("a | b <i>$x$</i>") == "a \\| b &lt;i&gt;\\$x\\$&lt;/i&gt;"  # Markdown escaped, as the HTML is


def test_a_category_column_reads_as_its_values(tmp_path):
    table = pd.DataFrame({"size": pd.Categorical(["S", "M", "L"] * 10), "rating": [1, 2, 3] * 10})
    table.to_parquet(tmp_path / "c.parquet")
    read = read_table(tmp_path / "c.parquet")
    assert read["size"].dtype == object and list(read["size"][:3]) == ["S", "M", "L"]


def test_an_entity_cannot_determine_its_own_key(small_table):
    status, err = call("inspect", small_table, "--entity", "a=a,b")
    assert status == 2 and "cannot be one of its own attributes" in err


def test_evaluate_names_a_train_table_that_lacks_a_column(tmp_path, small_table):
    pd.read_csv(small_table).drop(columns="b").to_csv(tmp_path / "train.csv", index=False)
    status, err = call("evaluate", "--real", small_table, "--synthetic", small_table, "--train", tmp_path / "train.csv",
                       "--out", tmp_path / "report")
    assert status == 2 and "train table lacks" in err and "'b'" in err and not (tmp_path / "report").exists()


def test_an_all_null_synthetic_column_scores_worst_not_left_out():
    from augment.evaluate.tabular import quality

    real = pd.DataFrame({"x": np.arange(50.0), "c": list("ab") * 25})
    empty = real.assign(x=np.nan)
    assert quality(real, empty, ["x"], ["c"]).column_shapes["x"] == 0.0
    assert quality(real, real.assign(c=None), ["x"], ["c"]).column_shapes["c"] == 0.0


def test_preparing_other_data_into_a_run_forgets_its_model(tmp_path, behavior_csv):
    run = tmp_path / "run"
    assert call("fit", behavior_csv, "--out", run, "--stage", "tabular", "--epochs", 1)[0] == 0
    other = tmp_path / "other.csv"
    pd.read_csv(behavior_csv).iloc[::-1].to_csv(other, index=False)
    assert call("fit", other, "--out", run, "--stage", "prepare")[0] == 0
    assert not (run / "models" / "tabular").exists()
    status, err = call("sample", "--run", run, "--rows", 5, "--out", tmp_path / "rows.csv")
    assert status == 2 and "no fitted tabular model" in err


def test_train_drops_synthetic_rows_that_copy_held_out_text(tmp_path, capsys):
    from augment.schema import SchemaOverrides
    from augment.train.data import data_from_table
    from tests.conftest import make_review_table

    table = make_review_table(rows=300).assign(review=lambda t: [f"review {i}: {r}" for i, r in enumerate(t.review)])
    table.to_csv(tmp_path / "t.csv", index=False)
    table.to_csv(tmp_path / "copies.csv", index=False)  # every row copied, held-out ones included
    data = data_from_table(str(tmp_path / "t.csv"), str(tmp_path / "copies.csv"),
                           SchemaOverrides.from_sources(roles=["review=text"]), False, None)
    held_out = set(data.validation["text"]) | set(data.test["text"])
    assert held_out and not set(data.synthetic["text"]) & held_out
    assert len(data.synthetic) == len(data.train)  # only the copies of train rows stay
    assert f"{len(held_out)} synthetic row(s) dropped" in capsys.readouterr().out


def test_synthetic_rows_keep_the_inputs_spelling_of_booleans(tmp_path, behavior_df):
    """A 0/1 column comes back 0/1 (integers), a yes/no column yes/no: joins and comparisons still work."""
    rng = np.random.default_rng(0)
    table = behavior_df.assign(clicked=rng.integers(0, 2, len(behavior_df)),
                               returned=rng.choice(["yes", "no"], len(behavior_df)))
    table.to_csv(tmp_path / "t.csv", index=False)
    run = tmp_path / "run"
    assert call("fit", tmp_path / "t.csv", "--out", run, "--stage", "tabular", "--epochs", 1)[0] == 0
    for out in (tmp_path / "rows.parquet", tmp_path / "rows.csv"):
        assert call("sample", "--run", run, "--rows", 60, "--out", out, "--condition", "clicked=1")[0] == 0
        rows = pd.read_parquet(out) if out.suffix == ".parquet" else pd.read_csv(out)
        assert rows["clicked"].dtype.kind == "i" and set(rows["clicked"]) == {1}
        assert set(rows["returned"]) <= {"yes", "no"}
    scored = tmp_path / "scored.parquet"
    status, err = call("filter", "--run", run, "--input", tmp_path / "rows.parquet", "--out", scored, "--all")
    assert status == 0, err
    assert pd.read_parquet(scored)["clicked"].dtype.kind == "i"
    spelled = pd.read_parquet(tmp_path / "rows.parquet")
    spelled.assign(clicked=spelled["clicked"] == 1).to_parquet(tmp_path / "bools.parquet")
    assert call("filter", "--run", run, "--input", tmp_path / "bools.parquet", "--out", tmp_path / "b.parquet",
                "--all")[0] == 0
    np.testing.assert_allclose(pd.read_parquet(tmp_path / "b.parquet")["score_p_real"],
                               pd.read_parquet(scored)["score_p_real"])  # the spelling does not move a score
