"""The Python API: the README's example runs as written; Augmenter round-trips through save/load."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from augment.errors import UserError

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert blocks, "README.md has no ```python example"
    return blocks[0]


@pytest.mark.slow
def test_the_readme_example_runs_as_written(tmp_path):
    code = readme_example()
    assert "from augment import Augmenter" in code
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False,
                            env=os.environ | {"PYTHONPATH": str(README.parent)}, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    sampled, admitted, score = result.stdout.split()[-3:]
    assert int(sampled) == 200 and 0 < int(admitted) <= 200 and 0 <= float(score) <= 1
    from augment import Augmenter

    (tmp_path / "clothing-augmenter").rename(tmp_path / "moved")  # a saved folder can move
    again = Augmenter.load(tmp_path / "moved")  # what the example saved loads and samples
    rows = again.sample(20, conditions={"Rating": 1}, seed=3)
    assert len(rows) == 20 and (rows["Rating"] == 1).all()
    assert again.sample(20, seed=3).equals(again.sample(20, seed=3))  # same seed, same rows


def test_an_unfitted_augmenter_says_what_to_do(tmp_path):
    from augment import Augmenter

    with pytest.raises(UserError, match=r"call \.fit\(df\)"):
        Augmenter().sample(5)
    with pytest.raises(UserError, match="not a saved Augmenter"):
        Augmenter.load(tmp_path)
    with pytest.raises(UserError, match="DataFrame"):
        Augmenter().fit([1, 2, 3])


def test_evaluate_and_train_take_dataframes(tmp_path):
    from augment import jobs
    from augment.schema import SchemaOverrides
    from augment.train.experiment import ExperimentConfig
    from tests.conftest import make_review_table

    table = make_review_table(rows=300)
    results = jobs.evaluate(table.iloc[:150], table.iloc[150:], out=tmp_path / "report")
    assert 0 < results["tabular"]["quality"] <= 1 and (tmp_path / "report" / "report.html").is_file()
    synthetic = table.sample(100, random_state=1).assign(review=lambda t: t["review"] + " (synthetic)")
    outcome = jobs.train(data=table, synthetic=synthetic, out=tmp_path / "train",
                         overrides=SchemaOverrides.from_sources(roles=["review=text"]),
                         experiment=ExperimentConfig(sizes=[40], ratios=[1], seeds=1, arms=["augmented"]))
    assert set(outcome["summary"][0]["arms"]) == {"real", "augmented"} and outcome["summary"][0]["verdict"]
    assert (tmp_path / "train" / "results.json").is_file()
