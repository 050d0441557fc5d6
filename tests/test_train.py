"""The downstream experiment: statistics and verdicts on constructed inputs, the protocol's hygiene,
and a tiny run of each learner option."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from augment.cli import run_cli
from augment.errors import UserError
from augment.schema import SchemaOverrides
from augment.train import experiment
from augment.train.__main__ import main
from augment.train.curation import Readings
from augment.train.data import data_from_table
from augment.train.experiment import Data, ExperimentConfig, run_experiment, summarize
from augment.train.learners import FineTuneConfig, length_grouped_batches, make_learner
from augment.train.outputs import verdict_lines, write_results
from augment.train.stats import mean_ci, paired_comparison, recovered_fraction
from tests.conftest import make_review_table


def test_confidence_interval_and_paired_verdicts():
    mean, low, _high = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and low == pytest.approx(2 - 4.303 * 1 / np.sqrt(3), abs=1e-3)
    assert paired_comparison([1.0, 1.1, 0.9, 1.0, 1.05], [0.8, 0.92, 0.7, 0.79, 0.86])["verdict"] == "gain"
    assert paired_comparison([0.8, 0.92, 0.7, 0.79, 0.86], [1.0, 1.1, 0.9, 1.0, 1.05])["verdict"] == "harm"
    assert paired_comparison([1.0, 0.9, 1.1, 1.0, 0.95], [0.95, 1.0, 1.0, 1.05, 0.9])["verdict"] == "no significant gain"
    assert recovered_fraction(1.0, 0.95, 0.8) == pytest.approx(0.25)


def constructed(real, augmented, repeated, eda):
    rows = []
    for arm, values in (("real", real), ("augmented", augmented), ("repeated", repeated), ("eda", eda)):
        rows += [{"size": 500, "ratio": 3.0, "arm": arm, "seed": s, "train_rows": 2000, "rmse": v, "mae": v,
                  "spearman": 0.5} for s, v in enumerate(values)]
    return pd.DataFrame(rows)


def test_gain_must_beat_the_controls():
    real, better = [1.0, 1.02, 0.98, 1.01, 0.99], [0.9, 0.93, 0.88, 0.91, 0.9]
    assert summarize(constructed(real, better, [0.95] * 5, [0.97] * 5))[0]["verdict"] == "gain"
    repeated_wins = summarize(constructed(real, better, [0.85] * 5, [0.97] * 5))[0]["verdict"]
    assert repeated_wins == "no significant gain (does not beat the controls)"
    # ahead of repeating the real rows on average (0.904 vs 0.910), but not in every seed
    summary = summarize(constructed(real, better, [0.85, 0.97, 0.86, 0.95, 0.92], [0.97] * 5))
    assert summary[0]["verdict"] == "gain over real only, not significantly beyond repeated"
    beyond = summary[0]["arms"]["augmented"]["vs_controls"]
    assert beyond["repeated"]["improvement"] == pytest.approx(0.006) and beyond["repeated"]["ci_low"] < 0
    assert beyond["eda"]["ci_low"] > 0
    assert verdict_lines(summary)[1].startswith("    augmented beyond repeated: improvement +0.006, 95% CI [-")
    assert summarize(constructed(real, [1.2, 1.21, 1.19, 1.2, 1.22], [1.0] * 5, [1.0] * 5))[0]["verdict"] == "harm"
    without_controls = constructed(real, better, [0.85] * 5, [0.97] * 5).query("arm in ['real', 'augmented']")
    assert summarize(without_controls)[0]["verdict"] == "gain over real only (the controls were not run)"


def test_each_augmenting_arm_gets_its_verdict(tmp_path):
    real, better = [1.0, 1.02, 0.98, 1.01, 0.99], [0.9, 0.93, 0.88, 0.91, 0.9]
    results = constructed(real, better, [0.95] * 5, [0.97] * 5)
    results = pd.concat([results, results.query("arm == 'augmented'").assign(arm="synthetic first", rmse=real)])
    summary = summarize(results)
    entry = summary[0]
    assert entry["verdict"] == entry["arms"]["augmented"]["verdict"] == "gain"
    assert entry["arms"]["synthetic first"]["verdict"] == "no significant gain"
    lines = verdict_lines(summary)  # each arm's verdict, then how far it is beyond each control
    assert [line.split(":")[0] for line in lines[1:]] == [
        "    augmented beyond repeated", "    augmented beyond eda", "  the same rows, synthetic first",
        "    synthetic first beyond repeated", "    synthetic first beyond eda"]
    assert lines[3].startswith("  the same rows, synthetic first: 1.000 (improvement +0.000")
    write_results(results, summary, {}, tmp_path)
    assert (tmp_path / "gain.png").stat().st_size > 0


def review_data(rows=600):
    table = make_review_table(rows=rows).dropna(subset=["review"])
    learning = pd.DataFrame({"text": table["review"], "y": table["rating"].astype(float),
                             "aux": (table["rating"] >= 4).astype(float)})
    synthetic = learning.iloc[:200].assign(text=lambda d: d["text"] + " synthmarker")
    return Data(learning.iloc[200:380], synthetic, learning.iloc[380:460], learning.iloc[460:])


def test_synthetic_rows_never_in_validation_or_test(monkeypatch):
    seen = []

    class Spy:
        def fit(self, texts, y, validation, aux=None, first_pass=None):
            seen.append(("fit", texts))
            seen.append(("validation", validation[0]))
            if first_pass is not None:
                seen.append(("first pass", [t for t, first in zip(texts, first_pass) if first]))
                seen.append(("later passes", [t for t, first in zip(texts, first_pass) if not first]))
            return self

        def predict(self, texts):
            seen.append(("predict", texts))
            return np.full(len(texts), 3.0)

    monkeypatch.setattr(experiment, "make_learner", lambda *args: Spy())
    config = ExperimentConfig(sizes=[40], ratios=[1, 2], seeds=2, learner="finetune",
                              arms=list(experiment.ARMS[1:]))
    data = review_data()
    results = run_experiment(data, config, progress=False)
    assert set(results["arm"]) == set(experiment.ARMS)
    assert not any("synthmarker" in t for kind, texts in seen if kind == "validation" for t in texts)
    predicted = [texts for kind, texts in seen if kind == "predict"]
    labelling = [texts for texts in predicted if all("synthmarker" in t for t in texts)]
    validation = [texts for texts in predicted if sorted(texts) == sorted(data.validation["text"])]
    test = [texts for texts in predicted if texts not in labelling and texts not in validation]
    assert all(sorted(texts) == sorted(data.test["text"]) for texts in test)
    # labelling synthetic rows: one teacher per ratio and seed; 5 ensemble members per seed (the real rows
    # do not change with the ratio), which also read the validation rows
    assert len(labelling) == 2 * 2 + 5 * 2 and len(validation) == 5 * 2
    marked = [any("synthmarker" in t for t in texts) for kind, texts in seen if kind == "fit"]
    augmenting = [arm for arm in results["arm"] if arm in experiment.AUGMENTING + ("synthetic",)]
    assert set(augmenting) == set(experiment.AUGMENTING) | {"synthetic"}
    # the spy reads every text as 3, so ensemble-labelled rows equal the self-labelled ones: fit once
    assert sum(marked) == len(augmenting) - 2 * 2
    first, later = [texts for kind, texts in seen if kind == "first pass"], \
        [texts for kind, texts in seen if kind == "later passes"]
    assert len(first) == 4 and all(t.endswith("synthmarker") for texts in first for t in texts)
    assert all(len(texts) == 40 and not any("synthmarker" in t for t in texts) for texts in later)
    sizes = results.set_index(["arm", "ratio", "seed"])["train_rows"]
    assert sizes[("augmented", 2, 0)] == sizes[("repeated", 2, 0)] == sizes[("eda", 2, 0)] == 120


def test_self_labelled_rows_carry_the_real_only_models_reading(monkeypatch):
    """The synthetic rows' targets are the real-only model's predictions; that model is the real arm's."""
    fits = []

    class ReadsLength:
        def fit(self, texts, y, validation, aux=None):
            fits.append((list(texts), list(y)))
            return self

        def predict(self, texts):
            return np.array([len(t) % 5 + 1.0 for t in texts])

    monkeypatch.setattr(experiment, "make_learner", lambda *args: ReadsLength())
    data = review_data()
    config = ExperimentConfig(sizes=[40], ratios=[2], seeds=1, arms=["augmented", "self-labelled"])
    results = run_experiment(data, config, progress=False)
    assert sorted(results["arm"]) == ["augmented", "real", "self-labelled"]
    assert [len(texts) for texts, _ in fits] == [40, 120, 120]  # the teacher (also the real arm), 2 augmenting arms
    (texts, given), (same_texts, labels) = fits[1], fits[2]
    assert texts == same_texts and all(t.endswith("synthmarker") for t in texts[40:])
    assert labels[:40] == given[:40]  # real rows keep their ratings
    assert labels[40:] == [len(t) % 5 + 1.0 for t in texts[40:]] != given[40:]


def test_readings_curate_rows_read_near_their_label_that_the_members_agree_about():
    predictions = np.array([[3.0, 1.0, 5.0, 2.0], [3.2, 1.3, 1.0, 2.2], [2.8, 0.7, 3.0, 1.8]])
    readings = Readings(predictions, validation_rmse=0.5)
    assert readings.mean.tolist() == pytest.approx([3.0, 1.0, 3.0, 2.0])
    # row 0: read at its label, little spread; row 1: read 3 stars off; row 2: the members disagree
    assert readings.curated(np.array([3.4, 4.0, 3.0, 2.0])).tolist() == [True, False, False, True]


def test_ensemble_arms_use_models_of_the_same_real_rows_only(monkeypatch):
    """Every ensemble member fits a resample of the setting's real rows; ensemble-labelled rows carry
    the members' mean reading, and curated rows are synthetic rows that reading puts near their label."""
    fits = []

    class ReadsLength:
        def fit(self, texts, y, validation, aux=None):
            fits.append(list(zip(texts, y)))
            self.shift = len(fits) % 2 * 0.2  # members differ a little, by the same amount on every row
            return self

        def predict(self, texts):
            return np.array([len(t) % 5 + 1.0 + self.shift for t in texts])

    monkeypatch.setattr(experiment, "make_learner", lambda *args: ReadsLength())
    data = review_data()
    config = ExperimentConfig(sizes=[40], ratios=[0.5], seeds=1,
                              arms=["ensemble-labelled", "curated", "smoothed", "reweighted"])
    results = run_experiment(data, config, progress=False)
    assert list(results["arm"]) == ["real", "ensemble-labelled", "curated", "smoothed", "reweighted"]
    # the members read before any arm fits
    members, real, labelled, curated, smoothed, reweighted = fits[:5], *fits[5:]
    assert len(real) == 40 and all(len(m) == 40 and set(m) <= set(real) for m in members)
    assert all(len(arm) == 60 and arm[:40] == real for arm in (labelled, curated, smoothed, reweighted))

    def reading(text):
        return len(text) % 5 + 1.0 + np.mean([0.2, 0.0, 0.2, 0.0, 0.2])

    assert all(t.endswith("synthmarker") and y == pytest.approx(reading(t)) for t, y in labelled[40:])
    validation_rmse = np.sqrt(np.mean([(reading(t) - y) ** 2 for t, y in zip(data.validation["text"],
                                                                               data.validation["y"])]))
    given = list(zip(data.synthetic["text"], data.synthetic["y"]))
    near = [(t, y) for t, y in given if abs(reading(t) - y) <= validation_rmse + 1e-9]
    assert all(row in near for row in curated[40:])  # curated rows keep their own label
    assert 20 <= len(near) < len(given)  # the rule drops some rows and leaves enough
    assert [t for t, _ in smoothed[40:]] == [t for t, _ in labelled[40:]]  # the same rows, other labels
    # halfway between the row's own label and the reading: twice the label, less the reading, is its own
    assert all(any(row == (t, pytest.approx(2 * y - reading(t))) for row in given) for t, y in smoothed[40:])
    assert all((t, y) in given for t, y in reweighted[40:])  # drawn rows keep their own label

    def off(rows):
        return np.mean([abs(reading(t) - y) for t, y in rows])

    assert off(reweighted[40:]) < off(given)  # the draw favours rows read near their label


@given(labels=st.lists(st.floats(1, 5), min_size=1, max_size=20), reading=st.floats(1, 5),
       error=st.floats(0.05, 2))
def test_smoothed_labels_lie_halfway_and_agreement_falls_with_distance(labels, reading, error):
    readings = Readings(np.full((3, len(labels)), reading), validation_rmse=error)
    labels = np.array(labels)
    assert readings.smoothed(labels) == pytest.approx((labels + reading) / 2)
    weights = readings.agreement(labels)
    assert np.all((weights > 0) & (weights <= 1))
    order = np.argsort(np.abs(labels - reading), kind="stable")
    assert np.all(np.diff(weights[order]) <= 1e-12)  # farther from the reading, never more weight


def test_synthetic_target_takes_the_synthetic_rows_target_from_a_column(tmp_path):
    table = make_review_table(rows=400)
    table.to_csv(tmp_path / "t.csv", index=False)
    readings = np.resize([2.5, 5.7, 0.4], 100)  # a judge's readings can fall outside the 1-5 stars
    synthetic = table.iloc[:100].assign(text_rating=readings)
    synthetic["review"] += " (synthetic)"  # texts of their own: copies of held-out texts would be dropped
    synthetic.to_csv(tmp_path / "s.csv", index=False)
    overrides = SchemaOverrides.from_sources(roles=["review=text"])
    data = data_from_table(str(tmp_path / "t.csv"), str(tmp_path / "s.csv"), overrides, False, None, "text_rating")
    assert len(data.synthetic) > 50 and set(data.synthetic["y"]) == {2.5, 5.0, 1.0}  # clipped to the real range
    assert not (data.train["y"] == 2.5).any()  # real rows keep their ratings
    with pytest.raises(UserError, match="--synthetic-target nope: the synthetic rows have no such column"):
        data_from_table(str(tmp_path / "t.csv"), str(tmp_path / "s.csv"), overrides, False, None, "nope")
    table.iloc[:100].drop(columns=["review"]).to_csv(tmp_path / "other.csv", index=False)
    with pytest.raises(UserError, match="other.csv: the synthetic rows lack review, which the learner reads"):
        data_from_table(str(tmp_path / "t.csv"), str(tmp_path / "other.csv"), overrides, False, None)
    with pytest.raises(UserError, match="--aux-target age: must be binary"):
        data_from_table(str(tmp_path / "t.csv"), None, overrides, False, "age")


@pytest.mark.parametrize("name, options", [
    ("tfidf", {}), ("zero-shot", {}), ("finetune", {}),
    ("finetune", {"aux": True}), ("finetune", {"fgm_epsilon": 0.5}), ("finetune", {"lora": True}),
])
def test_each_learner_option_runs(name, options):
    data = review_data(700)
    aux = options.pop("aux", False)
    learner = make_learner(name, 0, FineTuneConfig(epochs=1, batch_size=16, max_tokens=24, **options))
    train = data.train.head(48)
    learner.fit(train["text"].tolist(), train["y"].to_numpy(), (data.validation["text"].tolist(),
                data.validation["y"].to_numpy()), train["aux"].to_numpy() if aux else None)
    predicted = learner.predict(data.test["text"].head(20).tolist())
    assert predicted.shape == (20,) and np.isfinite(predicted).all()


def test_two_stage_fine_tuning_starts_with_the_first_pass_rows(monkeypatch):
    data = review_data(700)
    learner = make_learner("finetune", 0, FineTuneConfig(epochs=2, batch_size=8, max_tokens=24))
    encoded = []
    original = learner._encode
    monkeypatch.setattr(learner, "_encode", lambda texts: encoded.append((learner.model.training, list(texts)))
                        or original(texts))
    train = pd.concat([data.train.head(16), data.synthetic.head(24)])
    learner.fit(train["text"].tolist(), train["y"].to_numpy(), (data.validation["text"].head(8).tolist(),
                data.validation["y"].head(8).to_numpy()), first_pass=np.arange(40) >= 16)
    stages = [all("synthmarker" in t for t in batch) for training, batch in encoded if training]
    assert stages == [True] * 3 + [False] * 4  # 24 synthetic rows, then 2 epochs of 16 real rows
    assert learner.predict(data.test["text"].head(4).tolist()).shape == (4,)


def test_bad_experiment_settings_are_user_errors():
    data = review_data()
    with pytest.raises(UserError, match="only 180 rows"):
        run_experiment(data, ExperimentConfig(sizes=[200], ratios=[1], seeds=1), progress=False)
    with pytest.raises(UserError, match="only --learner finetune"):
        run_experiment(data, ExperimentConfig(sizes=[40], ratios=[1], seeds=1, arms=["synthetic first"]),
                       progress=False)
    for settings, message in (({"sizes": [0]}, "at least 2 real train rows"), ({"ratios": [1, -1]}, "negative"),
                              ({"seeds": -1}, "nothing to run"), ({"arms": ["mixup"]}, "unknown")):
        with pytest.raises(UserError, match=message):
            run_experiment(data, ExperimentConfig(**{"sizes": [40], "ratios": [1], "seeds": 1} | settings),
                           progress=False)


def test_length_grouped_batches_cover_each_row_once_and_pad_less():
    lengths = np.random.default_rng(1).integers(5, 128, size=1000)
    batches = length_grouped_batches(lengths, 16, np.random.default_rng(0))
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    assert max(len(b) for b in batches) == 16

    def padded(batches):
        return sum(lengths[b].max() * len(b) for b in batches) / lengths.sum()

    random_order = np.random.default_rng(0).permutation(1000)
    assert padded(batches) < 1.1
    assert padded([random_order[i : i + 16] for i in range(0, 1000, 16)]) > 1.3
    again = length_grouped_batches(lengths, 16, np.random.default_rng(0))
    assert all((a == b).all() for a, b in zip(batches, again))
    assert len({tuple(b[:3]) for b in batches[:5]}) == 5 and batches[0][0] != 0  # shuffled, not sorted


def test_finetuned_predictions_come_back_in_the_given_order():
    data = review_data(700)
    learner = make_learner("finetune", 0, FineTuneConfig(epochs=1, batch_size=16, max_tokens=48))
    train = data.train.head(32)
    learner.fit(train["text"].tolist(), train["y"].to_numpy(), (data.validation["text"].head(16).tolist(),
                data.validation["y"].head(16).to_numpy()))
    texts = data.test["text"].head(12).tolist()
    one_by_one = [learner.predict([t])[0] for t in texts]
    np.testing.assert_allclose(learner.predict(texts), one_by_one, atol=1e-4)


def test_cli_writes_results(tmp_path):
    table = make_review_table(rows=700)
    table.to_csv(tmp_path / "t.csv", index=False)
    table.assign(review=table["review"].str.upper()).iloc[:300].to_csv(tmp_path / "s.csv", index=False)
    argv = ["--data", tmp_path / "t.csv", "--synthetic", tmp_path / "s.csv", "--sizes", "60", "--ratios", "1",
            "--seeds", "2", "--out", tmp_path / "out", "--role", "review=text"]
    assert run_cli(main, [str(a) for a in argv]) == 0
    for name in ("results.json", "results.csv", "learning_curve.png", "gain.png"):
        assert (tmp_path / "out" / name).is_file()


def test_a_rerun_resumes_from_the_fit_log(tmp_path, monkeypatch):
    """Fits logged by an interrupted run are not redone; new synthetic rows refit only the arms that
    train on them."""
    data, config, log = review_data(), ExperimentConfig(sizes=[40], ratios=[1], seeds=2, arms=["augmented"]), \
        tmp_path / "fits.jsonl"
    first = run_experiment(data, config, progress=False, log_path=log)
    lines = log.read_text().splitlines()
    assert len(lines) == 4  # real and augmented for 2 seeds
    log.write_text("\n".join(lines[:2]) + "\n" + lines[2][:20])  # killed while writing the third fit
    fitted, original = [], experiment.fit_learner
    monkeypatch.setattr(experiment, "fit_learner", lambda table, *args: fitted.append(len(table)) or original(table, *args))
    again = run_experiment(data, config, progress=False, log_path=log)
    assert len(fitted) == 2  # the two fits not (fully) logged
    pd.testing.assert_frame_equal(first, again)
    fitted.clear()
    shuffled = Data(data.train, data.synthetic.sample(frac=1.0, random_state=1), data.validation, data.test)
    run_experiment(shuffled, config, progress=False, log_path=log)
    assert fitted == [80, 80]  # other synthetic rows: both augmented fits again, the real ones reused


def test_macro_mae_weighs_every_level_the_same():
    from augment.train.experiment import class_scores, macro_mae

    actual = np.array([5.0] * 90 + [1.0] * 10)
    always_five = np.full(100, 5.0)
    assert np.mean(np.abs(always_five - actual)) == pytest.approx(0.4)
    assert macro_mae(always_five, actual) == pytest.approx(2.0)  # the rare rating counts as much as the common one
    assert np.isnan(macro_mae(np.arange(50.0), np.arange(50.0)))  # a continuous target has no levels
    assert class_scores(always_five, actual) == {}


def test_class_scores_for_a_0_1_target():
    from augment.train.experiment import class_scores

    actual = np.array([0.0, 0.0, 1.0, 1.0, 0.0, 1.0])
    scores = class_scores(np.array([0.1, 0.2, 0.9, 0.7, 0.3, 0.6]), actual)
    assert scores["auc"] == 1.0 and scores["f1"] == 1.0 and scores["log_loss"] < 0.5
    flipped = class_scores(1 - np.array([0.1, 0.2, 0.9, 0.7, 0.3, 0.6]), actual)
    assert flipped["auc"] == 0.0 and flipped["f1"] == 0.0 and flipped["log_loss"] > 1.0


def test_macro_mae_gets_its_own_verdict_against_every_control():
    # synthetic rows that help the rare ratings: RMSE worse, macro MAE lower in every seed
    rmse = {"real": [1.0] * 5, "augmented": [1.05] * 5, "repeated": [1.0] * 5, "eda": [1.0] * 5, "rebalanced": [1.1] * 5}
    macro = {"real": [1.5, 1.52, 1.48, 1.51, 1.49], "augmented": [1.2, 1.23, 1.18, 1.21, 1.2], "repeated": [1.5] * 5,
             "eda": [1.5] * 5, "rebalanced": [1.25, 1.2, 1.3, 1.19, 1.22]}

    def summary_with(rebalanced):
        rows = [{"size": 500, "ratio": 1.0, "arm": arm, "seed": s, "train_rows": 1000, "rmse": r, "mae": r,
                 "macro_mae": m} for arm in rmse for s, (r, m) in enumerate(zip(rmse[arm], rebalanced if arm ==
                                                                               "rebalanced" else macro[arm]))]
        return summarize(pd.DataFrame(rows))

    summary = summary_with(macro["rebalanced"])
    augmented = summary[0]["arms"]["augmented"]
    assert augmented["verdict"] == "harm"
    # oversampling the real rows' rare ratings does about as well: no gain beyond that control
    assert augmented["by_macro_mae"]["verdict"] == "gain over real only, not significantly beyond rebalanced"
    assert augmented["by_macro_mae"]["vs_real"]["improvement"] == pytest.approx(0.296)
    assert any(line.startswith("    augmented by macro MAE: improvement +0.296") for line in verdict_lines(summary))
    assert summary_with([1.4] * 5)[0]["arms"]["augmented"]["by_macro_mae"]["verdict"] == "gain"


@given(counts=st.lists(st.integers(1, 60), min_size=2, max_size=5), seed=st.integers(0, 1000))
@hypothesis_settings(max_examples=25, deadline=None)
def test_the_rebalanced_control_adds_real_rows_with_every_rating_equally_likely(counts, seed):
    ratings = np.repeat(np.arange(1.0, len(counts) + 1), counts)
    real = pd.DataFrame({"text": [f"review {i}" for i in range(len(ratings))], "y": ratings})
    table = experiment._rebalanced(real, 6000, seed)
    assert len(table) == len(real) + 6000 and table.iloc[: len(real)].equals(real)
    assert set(table["text"]) == set(real["text"])  # real rows only, none altered
    shares = table.iloc[len(real):]["y"].value_counts(normalize=True)
    assert len(shares) == len(counts) and np.allclose(shares, 1 / len(counts), atol=0.04)
    continuous = pd.DataFrame({"text": [f"r{i}" for i in range(30)], "y": np.linspace(0, 1, 30)})
    assert experiment._rebalanced(continuous, 10, seed) is None  # no classes to balance


def test_relabel_adds_the_ensembles_reading_and_changes_no_given_column(tmp_path, capsys):
    from augment.data import read_table
    from augment.train.relabel import main as relabel

    table = make_review_table(rows=700)
    table.to_csv(tmp_path / "t.csv", index=False)
    synthetic = table.iloc[:300].assign(review=lambda d: d["review"].str.upper()).reset_index(drop=True)
    flipped = synthetic.index % 2 == 1  # half the rows carry the opposite rating of what their text says
    synthetic.loc[flipped, "rating"] = 6 - synthetic.loc[flipped, "rating"]
    synthetic.to_csv(tmp_path / "s.csv", index=False)
    given = read_table(tmp_path / "s.csv")
    argv = ["--data", tmp_path / "t.csv", "--synthetic", tmp_path / "s.csv", "--out", tmp_path / "r.csv",
            "--role", "review=text"]
    assert run_cli(relabel, [str(a) for a in argv]) == 0
    rows = read_table(tmp_path / "r.csv")
    pd.testing.assert_frame_equal(rows[given.columns], given)
    read = rows["reading"].notna()
    assert (read == given["review"].notna()).all() and f"{(~read).sum()} row(s) without a reading" in capsys.readouterr().out
    assert (rows.loc[~read, "weight"] == 0).all() and not rows.loc[~read, "curated"].any()
    np.testing.assert_allclose(rows.loc[read, "smoothed_target"], (rows["rating"] + rows["reading"])[read] / 2)
    far = read & (rows["rating"] - rows["reading"]).abs().gt(1.5)
    near = read & (rows["rating"] - rows["reading"]).abs().lt(0.5)
    assert far.sum() > 20 and near.sum() > 20
    assert rows.loc[far, "weight"].max() < rows.loc[near, "weight"].min() and not rows.loc[far, "curated"].any()
    assert rows.loc[read & ~flipped, "weight"].mean() > 2 * rows.loc[read & flipped, "weight"].mean()
    # A column the job would add is refused, before anything is written.
    given.assign(weight=1.0).to_csv(tmp_path / "w.csv", index=False)
    argv[3], argv[5] = tmp_path / "w.csv", tmp_path / "w.parquet"
    assert run_cli(relabel, [str(a) for a in argv]) == 2
    assert "already have a column named weight" in capsys.readouterr().err and not (tmp_path / "w.parquet").exists()
