"""Two processes under torchrun (gloo on CPU): the GAN, the text LoRA and the downstream fine-tuning
fit together, and sampling with text is shared out by rank; the merged output equals one
process's with the same seed."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from augment.distributed import World
from augment.filter import FilterConfig, filter_file, filter_rows
from augment.prepared import Prepared
from augment.runs import RunDir

FIT = ["--epochs", "2", "--text-steps", "2", "--seed", "3", "--role", "review=text", "--device", "cpu"]


def augment(*args, ranks: int = 1, timeout: int = 600) -> subprocess.CompletedProcess:
    # torchrun needs "--" before the module's own flags: it would read `--run` as its `--run-path`.
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks),
               "-m", "augment", "--"] if ranks > 1 else [sys.executable, "-m", "augment"]
    result = subprocess.run([*command, *map(str, args)], capture_output=True, text=True, check=False,
                            timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    from tests.conftest import make_review_table

    folder = tmp_path_factory.mktemp("distributed")
    data = folder / "reviews.csv"
    make_review_table().to_csv(data, index=False)
    augment("fit", data, "--out", folder / "run", *FIT, ranks=2)
    return RunDir(folder / "run")


def test_fit_under_torchrun_records_both_ranks(two_rank_run):
    stages = two_rank_run.manifest()["stages"]
    assert stages["tabular"]["processes"] == 2 and stages["text"]["processes"] == 2
    assert (two_rank_run.file("models", "tabular", "generator.safetensors")).is_file()
    assert (two_rank_run.file("models", "text", "adapter", "adapter_model.safetensors")).is_file()


def test_sharded_sampling_with_text_equals_one_process(two_rank_run, tmp_path):
    args = ["sample", "--run", two_rank_run.path, "--rows", 8, "--chunk-rows", 4, "--with-text", "--seed", 5,
            "--device", "cpu"]
    augment(*args, "--out", tmp_path / "two.parquet", ranks=2)
    augment(*args, "--out", tmp_path / "one.parquet")
    two, one = pd.read_parquet(tmp_path / "two.parquet"), pd.read_parquet(tmp_path / "one.parquet")
    assert len(one) == 8 and one["review"].notna().any()
    pd.testing.assert_frame_equal(two, one)
    assert not (tmp_path / "two.parquet.parts").exists()


def test_sharded_tabular_sampling_equals_one_process(two_rank_run, tmp_path):
    args = ["sample", "--run", two_rank_run.path, "--rows", 700, "--chunk-rows", 300, "--seed", 2, "--device", "cpu"]
    augment(*args, "--out", tmp_path / "two.csv", ranks=2)
    augment(*args, "--out", tmp_path / "one.csv")
    one = pd.read_csv(tmp_path / "one.csv")
    assert len(one) == 700
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "two.csv"), one)


def test_chunked_filter_scores_rows_as_the_in_memory_filter(two_rank_run, tmp_path):
    prepared = Prepared.load(two_rank_run)
    train, holdout = prepared.rows("train"), prepared.rows("validation")
    rows = prepared.rows("test").reset_index(drop=True)
    rows.to_parquet(tmp_path / "rows.parquet")
    config = FilterConfig(use_text_embeddings=False, real_rows=200, fit_rows=40)
    whole, summary = filter_rows(rows, train, holdout, prepared.schema, prepared.preprocessor, config, seed=4)
    streamed = filter_file(tmp_path / "rows.parquet", tmp_path / "out.parquet", prepared, config, World(), seed=4,
                           keep_all=True, chunk_rows=25)
    chunked = pd.read_parquet(tmp_path / "out.parquet")
    # Rows fit on keep their out-of-fold score, the rest get the fold models' mean: the same either way.
    np.testing.assert_allclose(chunked["score_p_real"], whole["score_p_real"])
    np.testing.assert_allclose(chunked["admission_probability"], whole["admission_probability"])
    assert streamed["rows"] == summary["rows"] == len(rows)
    deterministic = {k: v for k, v in summary["failing"].items() if k != "discriminator"}  # not the draws
    assert {k: v for k, v in streamed["failing"].items() if k != "discriminator"} == deterministic


def test_downstream_finetuning_under_torchrun(tmp_path):
    from tests.conftest import make_review_table

    make_review_table(rows=700).to_csv(tmp_path / "reviews.csv", index=False)
    augment("train", "--data", tmp_path / "reviews.csv", "--role", "review=text", "--learner", "finetune", "--epochs", 1,
            "--sizes", 40, "--ratios", 1, "--seeds", 1, "--out", tmp_path / "results", "--device", "cpu",
            ranks=2)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    assert results["config"]["processes"] == 2
    assert {"real", "repeated", "eda"} <= set(results["summary"][0]["arms"])


def test_sharded_writing_resumes_after_a_crash(tmp_path):
    from augment.distributed import write_sharded

    def work(number, size):
        done.append(number)
        if number == crash_at:
            raise RuntimeError("killed")
        return pd.DataFrame({"chunk": [number] * size}), {"rows": size}

    out = tmp_path / "rows.parquet"
    done, crash_at = [], 2
    with pytest.raises(RuntimeError):
        write_sharded(World(), [3, 3, 3, 2], work, out, key="a")
    assert not out.exists() and done == [0, 1, 2]
    done, crash_at = [], None
    counts = write_sharded(World(), [3, 3, 3, 2], work, out, key="a")
    assert done == [2, 3], "finished chunks are not redone"
    assert pd.read_parquet(out)["chunk"].tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 2
    assert counts == [{"rows": 3}] * 3 + [{"rows": 2}] and not (tmp_path / "rows.parquet.parts").exists()
    done, crash_at = [], 1
    with pytest.raises(RuntimeError):
        write_sharded(World(), [1, 1, 1], work, out, key="b")
    done, crash_at = [], None
    write_sharded(World(), [1, 1, 1], work, out, key="c")  # other inputs: no part of "b" is reused
    assert done == [0, 1, 2]
