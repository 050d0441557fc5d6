"""The whole job on a small table with short texts: outputs, provenance, unchanged real rows, resume."""

import os
import signal
import stat
import subprocess
import sys
import time

import pandas as pd
from pandas.util import hash_pandas_object

from augment import pipeline
from augment.data import read_table
from augment.pipeline import SynthesisConfig, synthesis_inputs
from augment.runs import RunDir, staging_folder, write_json
from augment.split import load_split
from augment.text.generate import GenerationConfig
from augment.text.models import bfloat16_is_fast

# --threads fixed: the uninterrupted and the resumed run are two runs, each would otherwise take the cores
# free when it starts, and torch's sums over another number of threads round differently.
RUN_ARGS = ["--epochs", "2", "--text-steps", "3", "--rows", "30", "--seed", "1", "--role", "review=text", "--filter", "none",
            "--threads", "2"]


def run_job(csv, out, timeout=600):
    return subprocess.run([sys.executable, "-m", "augment", "run", str(csv), "--out", str(out), *RUN_ARGS],
                          capture_output=True, text=True, check=False, timeout=timeout)


def test_run_end_to_end_then_kill_and_resume(tmp_path, review_csv, monkeypatch):
    straight = tmp_path / "straight"
    result = run_job(review_csv, straight)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "augmented dataset" in result.stdout

    augmented = pd.read_parquet(straight / "augmented.parquet")
    real_part = augmented[~augmented["is_synthetic"]]
    synthetic_part = augmented[augmented["is_synthetic"]]
    assert len(synthetic_part) == 30
    assert set(synthetic_part["generator"]) == {"tabular-gan+text-lm"}
    assert synthetic_part["score_p_real"].between(0, 1).all()
    # Nothing lost: the real rows are the input train rows, unchanged, in order.
    source = read_table(review_csv)
    train = source.iloc[load_split(RunDir(straight))["train"]].reset_index(drop=True)
    assert list(hash_pandas_object(real_part[source.columns].reset_index(drop=True), index=False)) == \
        list(hash_pandas_object(train, index=False))

    everything = pd.read_parquet(straight / "synthetic_all.parquet")
    assert {"score_p_real", "admission_probability", "reject_reason", "admitted"} <= set(everything.columns)
    # the LoRA fit computed in bfloat16 only where the machine has its kernels, and says so
    assert RunDir(straight).manifest()["stages"]["text"]["bfloat16_autocast"] == bfloat16_is_fast("cpu")
    stage = RunDir(straight).manifest()["stages"]["synthesize"]
    assert stage["generated"] == len(everything) and stage["kept"] == 30
    assert (straight / "report" / "report.html").is_file()

    # Killed with SIGKILL during the job, a rerun completes and equals the uninterrupted run.
    killed = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "augment", "run", str(review_csv), "--out", str(killed),
                                *RUN_ARGS], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    # Killed once the GAN is saved, while the text model loads and trains (seconds, so never too late).
    while time.time() < deadline and not (killed / "models" / "tabular" / "config.json").exists():
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (killed / "augmented.parquet").exists()
    for path in killed.rglob("*.parquet"):  # whatever has its final name is whole
        pd.read_parquet(path)
    RunDir(killed).manifest()
    result = run_job(review_csv, killed)
    assert result.returncode == 0, result.stderr[-2000:]
    pd.testing.assert_frame_equal(pd.read_parquet(killed / "augmented.parquet"), augmented)
    pd.testing.assert_frame_equal(pd.read_parquet(killed / "synthetic_all.parquet"), everything)

    # A rerun with nothing changed skips every stage.
    before = RunDir(straight).manifest()["stages"]
    again = run_job(review_csv, straight)
    assert again.returncode == 0
    assert "synthesize: up to date" in again.stdout + again.stderr
    assert RunDir(straight).manifest()["stages"] == before

    # Rows written with other text generation settings are not reused.
    config = SynthesisConfig(rows=30, filter_mode="none")
    assert RunDir(straight).stage_is_current("synthesize", synthesis_inputs(RunDir(straight), config, 1))
    monkeypatch.setattr(pipeline, "generation_config", lambda **_: GenerationConfig(repetition_penalty=1.3))
    assert not RunDir(straight).stage_is_current("synthesize", synthesis_inputs(RunDir(straight), config, 1))


def test_outputs_get_the_mode_a_plain_write_would(tmp_path):
    """Atomic writes stage in owner-only temporary files; what lands must be readable as the umask allows."""
    old = os.umask(0o027)
    try:
        write_json(tmp_path / "out.json", {"a": 1})
        folder = staging_folder(tmp_path, ".staging-")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.json").stat().st_mode) == 0o640
    assert stat.S_IMODE(folder.stat().st_mode) == 0o750


def test_the_stage_plan_names_every_stage_and_bounds_the_rows(tmp_path, behavior_csv):
    from augment.pipeline import SynthesisConfig
    from augment.plan import format_plan, stage_plan
    from augment.prepared import PrepareConfig, prepare

    prepared = prepare(behavior_csv, tmp_path / "run", PrepareConfig())
    stages = stage_plan(prepared, SynthesisConfig(rows=1000, filter_mode="rejection"), "quick")
    assert [s.name for s in stages] == ["tabular GAN", "synthesize"]  # no text column: no LoRA stage
    assert all(s.seconds > 0 for s in stages)
    assert "at most 60 epochs" in stages[0].what and "cap of 4,000 generated" in stages[1].what
    quick = stage_plan(prepared, SynthesisConfig(rows=100, filter_mode="none"), "quick", epochs=5)
    assert quick[0].seconds < stages[0].seconds and "cap" not in quick[1].what
    assert format_plan(stages).count("\n") == 2
    from augment.filter import FILTER_MODES

    for mode in FILTER_MODES:  # every mode the command line offers has an estimate
        assert stage_plan(prepared, SynthesisConfig(rows=100, filter_mode=mode), "quick")[-1].seconds > 0
