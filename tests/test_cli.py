import json
import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq
import pytest

from augment.__main__ import main
from augment.cli import run_cli
from augment.errors import UserError
from augment.pipeline import SynthesisConfig
from augment.runs import RunDir


def cli(*argv):
    return run_cli(main, [str(a) for a in argv])


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "augment", "--help"], capture_output=True, text=True, check=True)
    for command in ("inspect", "fit", "sample", "filter", "run", "export"):
        assert command in out.stdout
    for command in ("train", "relabel", "evaluate"):
        assert command in out.stdout
        result = subprocess.run([sys.executable, "-m", "augment", command, "--help"], capture_output=True, text=True,
                                check=False)
        assert result.returncode == 0 and "--seed" in result.stdout


def test_bad_input_is_one_line_status_2_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "augment", "inspect", str(tmp_path / "nope.csv")], capture_output=True, text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0 and "nope.csv" in result.stderr


def test_inspect_womens_clothing(capsys):
    assert cli("inspect", "womens-clothing") == 0
    out = capsys.readouterr().out
    assert "target: Rating" in out
    assert "entity (detected): Clothing ID -> Department Name, Class Name" in out
    assert "not an attribute: Division Name" in out


def test_inspect_json_and_write_schema(tmp_path, capsys, behavior_csv):
    assert cli("inspect", behavior_csv, "--json", "--write-schema", tmp_path / "s.json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["target"] == "rating"
    assert {e["key"] for e in report["entities"]} == {"user_id", "item_id"}
    assert json.loads((tmp_path / "s.json").read_text()) == report["schema"]


def test_an_output_path_that_cannot_be_written_is_one_line(tmp_path, capsys, behavior_csv):
    (tmp_path / "a-file").write_text("")
    assert cli("inspect", behavior_csv, "--write-schema", tmp_path / "a-file" / "s.json") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'a-file'}: ") and err.count("\n") == 1


@pytest.mark.parametrize(
    "argv, culprit",
    [
        (["--role", "age=ordinal"], "ordinal"),
        (["--target", "nope"], "nope"),
        (["--entity", "user_id"], "--entity"),
        (["--schema", "missing.json"], "missing.json"),
    ],
)
def test_bad_flags(behavior_csv, capsys, argv, culprit):
    assert cli("inspect", behavior_csv, *argv) == 2
    assert culprit in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--rows", "--epochs", "--text-steps", "--train-rows"])
def test_run_refuses_counts_below_one_before_fitting_anything(tmp_path, behavior_csv, capsys, flag):
    with pytest.raises(SystemExit) as usage:
        cli("run", behavior_csv, "--out", tmp_path / "run", flag, 0)
    assert usage.value.code == 2 and f"argument {flag}: 0: must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    with pytest.raises(UserError, match="--rows 0: must be at least 1"):  # for callers of the library too
        SynthesisConfig(rows=0)


def test_fit_prepare_writes_run_and_resumes(tmp_path, behavior_csv, capsys):
    out = tmp_path / "run"
    assert cli("fit", behavior_csv, "--out", out, "--stage", "prepare", "--seed", 3) == 0
    run = RunDir(out)
    for name in ("schema.json", "split/train.ids", "split/validation.ids", "split/test.ids", "preprocess.json"):
        assert run.file(name).is_file()
    manifest = run.manifest()
    assert manifest["stages"]["prepare"]["config"]["seed"] == 3
    first = run.file("split/train.ids").read_text()
    capsys.readouterr()
    assert cli("fit", behavior_csv, "--out", out, "--stage", "prepare", "--seed", 3) == 0
    assert "prepare: up to date" in capsys.readouterr().out
    assert run.manifest()["stages"]["prepare"] == manifest["stages"]["prepare"]
    assert cli("fit", behavior_csv, "--out", out, "--stage", "prepare", "--seed", 4) == 0
    assert run.file("split/train.ids").read_text() != first


def test_train_rows_limits_train_and_validation_only(tmp_path, behavior_csv, capsys):
    full, limited = tmp_path / "full", tmp_path / "limited"
    assert cli("fit", behavior_csv, "--out", full, "--stage", "prepare") == 0
    assert cli("fit", behavior_csv, "--out", limited, "--stage", "prepare", "--train-rows", 100) == 0
    sizes = RunDir(limited).manifest()["stages"]["prepare"]["split_sizes"]
    assert sizes["train"] == 100 and sizes["validation"] == 21  # 100 x 15/70
    assert (limited / "split/test.ids").read_text() == (full / "split/test.ids").read_text()
    assert set((limited / "split/train.ids").read_text().split()) < set((full / "split/train.ids").read_text().split())
    capsys.readouterr()
    assert cli("fit", behavior_csv, "--out", tmp_path / "bad", "--stage", "prepare", "--train-rows", 5000) == 2
    err = capsys.readouterr().err
    assert "--train-rows 5000" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_config_file_sets_defaults_and_flags_win(tmp_path, behavior_csv):
    config = tmp_path / "c.toml"
    config.write_text('seed = 5\n[fit]\ngroup_by = "user_id"\n')
    out = tmp_path / "run"
    assert cli("fit", behavior_csv, "--out", out, "--stage", "prepare", "--config", config) == 0
    recorded = RunDir(out).manifest()["stages"]["prepare"]["config"]
    assert recorded["seed"] == 5 and recorded["group_by"] == "user_id"
    assert cli("fit", behavior_csv, "--out", out, "--stage", "prepare", "--config", config, "--seed", 6) == 0
    assert RunDir(out).manifest()["stages"]["prepare"]["config"]["seed"] == 6


def test_config_unknown_key(tmp_path, behavior_csv, capsys):
    config = tmp_path / "c.toml"
    config.write_text("epochs_typo = 5\n")
    assert cli("inspect", behavior_csv, "--config", config) == 2
    assert "epochs_typo" in capsys.readouterr().err


def test_export_layout_reads_back(tmp_path, behavior_csv, behavior_df):
    out, export = tmp_path / "run", tmp_path / "export"
    assert cli("fit", behavior_csv, "--out", out, "--stage", "prepare") == 0
    assert cli("export", "--run", out, "--out", export) == 0
    parts = {name: pd.read_parquet(export / name / f"{name}.parquet") for name in ("train", "validation", "test")}
    assert sum(len(p) for p in parts.values()) == len(behavior_df)
    assert not parts["test"]["is_synthetic"].any()
    assert len({tuple(p.columns) for p in parts.values()}) == 1  # every split has the same columns
    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest["inputs"]["data"]["sha256"] and manifest["splits"]["test"]["rows"] == len(parts["test"])
    assert b"behavior_augment" in pq.read_schema(export / "test" / "test.parquet").metadata
    assert "Provenance columns" in (export / "README.md").read_text()
    with pytest.raises(Exception):  # noqa: B017 - pandas must not merge the three splits silently
        pd.read_parquet(export)
    assert cli("export", "--run", out, "--out", export, "--features-only") == 0  # an earlier export is replaced
    assert list(pd.read_parquet(export / "train" / "train.parquet").columns) == list(behavior_df.columns)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert cli("export", "--run", out, "--out", tmp_path / "mine") == 2  # never over a folder of other files


def test_an_export_loads_with_hugging_face_datasets(tmp_path, behavior_csv):
    datasets = pytest.importorskip("datasets")
    out, export = tmp_path / "run", tmp_path / "export"
    assert cli("fit", behavior_csv, "--out", out, "--stage", "prepare") == 0
    assert cli("export", "--run", out, "--out", export) == 0
    loaded = datasets.load_dataset("parquet", data_dir=str(export), cache_dir=str(tmp_path / "cache"))
    assert set(loaded) == {"train", "validation", "test"}
    assert loaded["train"].column_names == loaded["test"].column_names
    assert sum(loaded[name].num_rows for name in loaded) == sum(
        json.loads((export / "manifest.json").read_text())["splits"][name]["rows"] for name in loaded)


def test_fit_tabular_then_sample_with_conditions(tmp_path, behavior_csv, capsys):
    out = tmp_path / "run"
    assert cli("fit", behavior_csv, "--out", out, "--stage", "tabular", "--epochs", 2) == 0
    stage = RunDir(out).manifest()["stages"]["tabular"]
    assert stage["epochs_trained"] == 2 and stage["best_epoch"] in (1, 2)
    rows_file = tmp_path / "rows.csv"
    assert cli("sample", "--run", out, "--rows", 50, "--condition", "rating=1", "--out", rows_file) == 0
    rows = pd.read_csv(rows_file)
    assert len(rows) == 50 and (rows["rating"] == 1).all()
    capsys.readouterr()
    assert cli("sample", "--run", out, "--rows", 5, "--condition", "rating=9", "--out", rows_file) == 2
    assert "valid values: 1, 2, 3, 4, 5" in capsys.readouterr().err
    assert cli("sample", "--run", tmp_path / "nothing", "--rows", 5, "--out", rows_file) == 2
    assert "not a prepared run" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # argparse's own error: one line, status 2
        cli("sample", "--run", out, "--rows", 5, "--with-text", "--guidance", 0.5, "--out", rows_file)
    assert usage.value.code == 2 and "--guidance: 0.5: must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        cli("filter", "--run", out, "--input", rows_file, "--out", tmp_path / "kept.csv", "--max-rating-gap", 0)
    assert usage.value.code == 2 and "--max-rating-gap: 0: must be above 0" in capsys.readouterr().err


def test_run_without_text_columns(tmp_path, behavior_csv, capsys):
    out = tmp_path / "run"
    assert cli("run", behavior_csv, "--out", out, "--epochs", 1, "--rows", 80, "--filter", "none") == 0
    augmented = pd.read_parquet(out / "augmented.parquet")
    assert augmented["is_synthetic"].sum() == 80
    assert set(augmented.loc[augmented["is_synthetic"], "generator"]) == {"tabular-gan"}
    assert "text" not in RunDir(out).manifest()["stages"]
    for name in ("report.html", "report.json", "report.md"):
        assert (out / "report" / name).is_file()
    # Too few admitted rows to measure: the rows are written, the report (now stale) is not kept.
    assert cli("run", behavior_csv, "--out", out, "--epochs", 1, "--rows", 5, "--filter", "none") == 0
    assert pd.read_parquet(out / "augmented.parquet")["is_synthetic"].sum() == 5
    printed = capsys.readouterr().out
    assert "the first 5 kept" in printed and "fidelity report: not written, 5 synthetic rows are too few" in printed
    assert not any((out / "report").glob("report.*"))


def test_fit_init_from_an_earlier_run(tmp_path, behavior_csv, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    assert cli("fit", behavior_csv, "--out", first, "--stage", "tabular", "--epochs", 1) == 0
    assert cli("fit", behavior_csv, "--out", second, "--stage", "tabular", "--epochs", 1, "--init-from", first) == 0
    assert RunDir(second).manifest()["stages"]["tabular"]["epochs_trained"] == 1
    capsys.readouterr()
    assert cli("fit", behavior_csv, "--out", tmp_path / "third", "--stage", "tabular", "--init-from",
               tmp_path / "nothing") == 2
    assert "--init-from needs a run with a fitted tabular model" in capsys.readouterr().err
    assert not (tmp_path / "third").exists()  # refused before anything was written
