"""The protocol: does training on real + synthetic rows beat real rows alone, on unseen real rows?

For each real-data size, seed and synthetic:real ratio, one learner is fit on each arm:

- real: `size` real train rows (the baseline);
- augmented: the same real rows + ratio x size synthetic rows, shuffled together;
- synthetic first (fine-tuned learner only, on request): the same rows in two stages, one pass over
  the synthetic rows and then the epochs over the real rows, so the model ends on real text;
- self-labelled (on request): the same rows as augmented, each synthetic row's target replaced by
  the real-only model's prediction for its text (the same learner and seed: self-training, as in
  Xie et al.'s noisy student), so a row whose text reads unlike its rating teaches no wrong label;
- ensemble-labelled (on request): the same rows as augmented, each synthetic row's target replaced by
  the mean reading of an ensemble fit on resamples of the same real rows (soft targets,
  `augment.train.curation`);
- curated (on request): the real rows + ratio x size synthetic rows drawn from those the ensemble
  learns consistently (CLLM's curation, `augment.train.curation`); not built when too few pass;
- smoothed (on request): the augmented rows, each synthetic label moved halfway toward the
  ensemble's reading (label smoothing);
- reweighted (on request): the real rows + ratio x size synthetic rows drawn with probability in
  proportion to how well the ensemble's reading agrees with their label (noise-robust weighting);
- synthetic: ratio x size synthetic rows only (train on synthetic, test on real);
- more real: size x (1 + ratio) real rows (the ceiling synthetic rows can approach);
- repeated: the real rows repeated to size x (1 + ratio) (more steps alone must not pass for a gain);
- eda: the real rows + ratio x size EDA-style copies of them (a cheap classic augmentation);
- rebalanced (on request): the real rows + ratio x size more of them drawn so that every rating is
  equally likely (class-balanced oversampling): what evening out the ratings costs with real rows
  alone, the control that rating-balanced synthetic rows must beat.

Validation (early stopping, model choice) and test (every metric) are real rows only; synthetic
rows never enter them. Augmentation counts as a gain only if it beats the real baseline with a 95%
CI above zero across seeds and also beats every control that ran, each with its paired 95% CI above zero
(ahead of a control only on average, it is a gain over real only, not beyond that control).
The same comparisons and verdict are made on the macro MAE (each rating's test rows weigh the same),
where a gain for the rare ratings shows even when the common ones hide it from the RMSE.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from tqdm.auto import tqdm

from augment.distributed import World
from augment.errors import UserError
from augment.runs import value_hash
from augment.schema import MAX_TARGET_LEVELS
from augment.train.curation import MEMBERS, Readings, read_synthetic
from augment.train.eda import eda
from augment.train.fitlog import FitLog, data_fingerprint
from augment.train.learners import FineTuneConfig, make_learner, rmse
from augment.train.stats import mean_ci, paired_comparison, recovered_fraction

ARMS = ("real", "augmented", "synthetic first", "self-labelled", "ensemble-labelled", "curated", "smoothed",
        "reweighted", "synthetic", "more real", "repeated", "eda", "rebalanced")
# the arms that add synthetic rows to the real ones
AUGMENTING = ("augmented", "synthetic first", "self-labelled", "ensemble-labelled", "curated", "smoothed",
              "reweighted")
# the arms that need the ensemble's readings
READ_BY_ENSEMBLE = ("ensemble-labelled", "curated", "smoothed", "reweighted")
DEFAULT_ARMS = ("augmented", "synthetic", "more real", "repeated", "eda")
# what a gain must beat: more steps alone, a cheap classic augmentation, and (when run) the real rows
# oversampled to even ratings
CONTROLS = ("repeated", "eda", "rebalanced")


@dataclass
class ExperimentConfig:
    """The downstream protocol: real-row sizes, synthetic ratios, seeds, learner and the arms compared."""
    sizes: list[int] = field(default_factory=lambda: [250, 500, 1000, 2000])
    ratios: list[float] = field(default_factory=lambda: [1.0, 3.0])
    seeds: int = 5
    first_seed: int = 0  # the seeds are first_seed, first_seed + 1, ...
    learner: str = "tfidf"
    arms: list[str] = field(default_factory=lambda: list(DEFAULT_ARMS))  # besides "real", which always runs
    finetune: FineTuneConfig = field(default_factory=FineTuneConfig)
    aux_target: str | None = None  # binary column for multi-task fine-tuning
    validation_rows: int = 1000
    test_rows: int = 2000


@dataclass
class Data:
    """Texts, targets (and auxiliary targets) of each part; synthetic rows only ever in `synthetic`."""

    train: pd.DataFrame
    synthetic: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    synthetic_rows: pd.DataFrame | None = None  # the synthetic rows as given, every column; `synthetic` has their index


def run_experiment(data: Data, config: ExperimentConfig, progress: bool = True, world: World | None = None,
                   log_path: str | Path | None = None) -> pd.DataFrame:
    """One row per (size, ratio, arm, seed) with RMSE, MAE and Spearman on the real test rows.

    With `log_path`, each finished fit is logged there and any later fit of the same rows with the
    same settings and seed is skipped (see `FitLog`). Under torchrun every rank runs the same plan; the fine-tuned
    learner shares each batch out."""
    world = world or World()
    fits = _Fits(data, config, world, log_path)
    _check(config, data)
    seeds = range(config.first_seed, config.first_seed + config.seeds)
    plan = [(size, ratio, seed) for size in config.sizes for ratio in config.ratios for seed in seeds]
    rows = []
    bar = tqdm(plan, desc="experiment", unit="setting", disable=not progress or not world.is_main)
    for size, ratio, seed in bar:
        real, arms = _arm_tables(data, config, size, ratio, seed, fits)
        rows.append({"size": size, "ratio": ratio, "arm": "real", "seed": seed, "train_rows": len(real),
                     **fits.fit(real, seed)})  # ratio 0: the real arm is fit once per size and seed
        for arm, table in arms.items():
            if table is not None and arm in config.arms:
                first_pass = np.arange(len(table)) >= len(real) if arm == "synthetic first" else None
                rows.append({"size": size, "ratio": ratio, "arm": arm, "seed": seed, "train_rows": len(table),
                             **fits.fit(table, seed, first_pass)})
        bar.set_postfix(size=size, ratio=ratio, seed=seed)
    return pd.DataFrame(rows)


def _arm_tables(data: Data, config: ExperimentConfig, size: int, ratio: float, seed: int,
                fits: _Fits) -> tuple[pd.DataFrame, dict[str, pd.DataFrame | None]]:
    """The real rows of one setting and each arm's training table (None where it cannot be built:
    too few synthetic rows, too few curated ones, or too few real rows for the more-real ceiling)."""
    rng = np.random.default_rng(seed)
    extra = round(size * ratio)
    order = rng.permutation(len(data.train))
    real = data.train.iloc[order[:size]]
    arms = dict.fromkeys(ARMS[1:])
    if len(data.synthetic) >= extra > 0:
        picked = pd.Series(np.arange(len(data.synthetic))).sample(extra, random_state=seed).to_numpy()
        synthetic = data.synthetic.iloc[picked]
        arms["augmented"] = arms["synthetic first"] = pd.concat([real, synthetic])
        arms["synthetic"] = synthetic
        if "self-labelled" in config.arms:
            arms["self-labelled"] = pd.concat([real, synthetic.assign(y=fits.self_labels(real, synthetic, seed))])
        if set(READ_BY_ENSEMBLE) & set(config.arms):
            readings, labels = fits.readings(real, seed), data.synthetic["y"].to_numpy(float)
            arms["ensemble-labelled"] = pd.concat([real, synthetic.assign(y=readings.mean[picked])])
            arms["smoothed"] = pd.concat([real, synthetic.assign(y=readings.smoothed(labels)[picked])])
            pool = data.synthetic[readings.curated(labels)]
            if len(pool) >= extra:
                arms["curated"] = pd.concat([real, pool.sample(extra, random_state=seed)])
            weights = readings.agreement(labels)
            drawn = np.random.default_rng([seed, 13]).choice(len(labels), size=extra, replace=False,
                                                             p=weights / weights.sum())
            arms["reweighted"] = pd.concat([real, data.synthetic.iloc[drawn]])
    if size + extra <= len(data.train):
        arms["more real"] = data.train.iloc[order[: size + extra]]
    arms["repeated"] = real.iloc[np.resize(np.arange(len(real)), size + extra)]
    arms["eda"] = pd.concat([real, _eda_copies(real, extra, rng)])
    if "rebalanced" in config.arms:
        arms["rebalanced"] = _rebalanced(real, extra, seed)
    return real, arms


class _Fits:
    """Fits and their test scores, each logged under a key of its rows, settings and seed, so a
    rerun (or another arm with the same rows) reuses it."""

    def __init__(self, data: Data, config: ExperimentConfig, world: World, log_path: str | Path | None):
        self.config, self.world = config, world
        self.validation = data.validation.sample(min(config.validation_rows, len(data.validation)), random_state=0)
        self.test = data.test.sample(min(config.test_rows, len(data.test)), random_state=0)
        self.synthetic = data.synthetic
        self.log = FitLog(log_path if world.is_main else None)
        self.log.done = world.broadcast(self.log.done)  # every rank skips the same fits
        self.settings = {k: v for k, v in to_dict(config).items()
                         if k not in ("sizes", "ratios", "seeds", "first_seed", "arms")}
        self.evaluation = data_fingerprint(self.validation, self.test)

    def key(self, table: pd.DataFrame, seed: int, first_pass: np.ndarray | None = None) -> str:
        key = {"settings": self.settings, "train": data_fingerprint(table), "evaluation": self.evaluation,
               "seed": seed, "processes": self.world.size}
        if first_pass is not None:  # the same rows in two stages: another fit
            key["first_pass"] = np.flatnonzero(first_pass).tolist()
        return value_hash(key)

    def fit(self, table: pd.DataFrame, seed: int, first_pass: np.ndarray | None = None) -> dict:
        """The test scores of a learner fit on `table` (logged, or fit now)."""
        key = self.key(table, seed, first_pass)
        scores = self.log.get(key)
        if scores is None:
            scores = _scores(fit_learner(table, self.validation, self.config, seed, self.world, first_pass), self.test)
            self.log.add(key, scores)
        return scores

    def self_labels(self, real: pd.DataFrame, synthetic: pd.DataFrame, seed: int) -> np.ndarray:
        """The real-only model's predictions for the synthetic texts; that model's scores are the real arm's."""
        teacher_key = self.key(real, seed)
        key = value_hash({"teacher": teacher_key, "labels for": data_fingerprint(synthetic[["text"]])})
        labels = self.log.get(key)
        if labels is None:
            teacher = fit_learner(real, self.validation, self.config, seed, self.world)
            labels = {"labels": np.round(teacher.predict(synthetic["text"].tolist()), 4).tolist()}
            self.log.add(key, labels)
            if self.log.get(teacher_key) is None:  # the same fit as the real arm's: score it once
                self.log.add(teacher_key, _scores(teacher, self.test))
        return np.asarray(labels["labels"], float)

    def readings(self, real: pd.DataFrame, seed: int) -> Readings:
        """The ensemble of `real`'s resamples reading every synthetic row (logged like a fit)."""
        key = value_hash({"ensemble of": self.key(real, seed), "members": MEMBERS,
                          "reads": data_fingerprint(self.synthetic[["text"]])})
        logged = self.log.get(key)
        if logged is None:
            readings = read_synthetic(lambda table, s: fit_learner(table, self.validation, self.config, s, self.world),
                                      real, self.synthetic, self.validation, seed)
            logged = {"predictions": np.round(readings.predictions, 4).tolist(),
                      "validation_rmse": readings.validation_rmse}
            self.log.add(key, logged)
        return Readings(np.asarray(logged["predictions"], float), float(logged["validation_rmse"]))


def _check(config: ExperimentConfig, data: Data) -> None:
    """Refuse settings that cannot run before the first fit, with the flag to change."""
    if not (config.sizes and config.ratios and config.seeds > 0):
        raise UserError("nothing to run: give at least one --sizes, --ratios and --seeds")
    if min(config.sizes) < 2:
        raise UserError(f"--sizes {min(config.sizes)}: a learner needs at least 2 real train rows")
    if min(config.ratios) < 0:
        raise UserError(f"--ratios {min(config.ratios):g}: synthetic rows per real row cannot be negative")
    unknown = sorted(set(config.arms) - set(ARMS[1:]))
    if unknown:
        raise UserError(f"--arms {', '.join(unknown)}: unknown; choose from {', '.join(ARMS[1:])}")
    if max(config.sizes) > len(data.train):
        raise UserError(f"--sizes {max(config.sizes)}: the real train split has only {len(data.train)} rows")
    if "synthetic first" in config.arms and config.learner != "finetune":
        raise UserError("--arms 'synthetic first' trains in two stages, which only --learner finetune does")


def _eda_copies(real: pd.DataFrame, count: int, rng: np.random.Generator) -> pd.DataFrame:
    copies = real.iloc[rng.integers(len(real), size=count)].copy()
    copies["text"] = [eda(t, rng) for t in copies["text"]]
    return copies


def _rebalanced(real: pd.DataFrame, count: int, seed: int) -> pd.DataFrame | None:
    """The real rows and `count` more drawn from them so that every target level is equally likely
    (None for a target of more than MAX_TARGET_LEVELS levels, which has no classes to balance)."""
    levels, level_of, counts = np.unique(real["y"].to_numpy(float), return_inverse=True, return_counts=True)
    if len(levels) > MAX_TARGET_LEVELS:
        return None
    weights = 1.0 / counts[level_of]
    drawn = np.random.default_rng([seed, 11]).choice(len(real), size=count, p=weights / weights.sum())
    return pd.concat([real, real.iloc[drawn]])


def fit_learner(table: pd.DataFrame, validation: pd.DataFrame, config: ExperimentConfig, seed: int,
            world: World | None = None, first_pass: np.ndarray | None = None):
    learner = make_learner(config.learner, seed, config.finetune, world)
    aux = table["aux"].to_numpy() if config.aux_target else None
    stages = {"first_pass": first_pass} if first_pass is not None else {}  # only the fine-tuned learner has stages
    return learner.fit(table["text"].tolist(), table["y"].to_numpy(float),
                       (validation["text"].tolist(), validation["y"].to_numpy(float)), aux, **stages)


def _scores(learner, test: pd.DataFrame) -> dict:
    """RMSE, MAE, Spearman and macro MAE on the test rows; for a 0/1 target also ROC AUC, F1 and log loss."""
    predicted = learner.predict(test["text"].tolist())
    actual = test["y"].to_numpy(float)
    ranked = np.ptp(predicted) > 0 and np.ptp(actual) > 0  # a constant side has no rank order
    scores = {"rmse": rmse(predicted, actual), "mae": float(np.mean(np.abs(predicted - actual))),
              "spearman": float(spearmanr(predicted, actual).statistic) if ranked else float("nan"),
              "macro_mae": macro_mae(predicted, actual)}
    return scores | class_scores(predicted, actual)


def macro_mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    """MAE averaged over the target's levels, each level weighing the same: rare ratings count as much
    as common ones (NaN for a target of more than MAX_TARGET_LEVELS levels, where levels mean nothing)."""
    levels = np.unique(actual)
    if len(levels) > MAX_TARGET_LEVELS:
        return float("nan")
    return float(np.mean([np.mean(np.abs(predicted[actual == level] - level)) for level in levels]))


def class_scores(predicted: np.ndarray, actual: np.ndarray) -> dict:
    """ROC AUC, F1 at 0.5 and log loss when the target is 0/1 (the prediction read as a probability)."""
    if set(np.unique(actual)) != {0.0, 1.0}:
        return {}
    from sklearn.metrics import f1_score, log_loss, roc_auc_score

    probability = np.clip(predicted, 1e-4, 1 - 1e-4)
    return {"auc": float(roc_auc_score(actual, predicted)), "f1": float(f1_score(actual, predicted >= 0.5)),
            "log_loss": float(log_loss(actual, probability, labels=[0, 1]))}


SECONDARY_SCORES = ("mae", "macro_mae", "spearman", "auc", "f1", "log_loss")  # averaged beside RMSE when measured


def summarize(results: pd.DataFrame) -> list[dict]:
    """Per (size, ratio): each arm's mean and CI, its paired comparison with real, and the verdict."""
    out = []
    for (size, ratio), group in results.groupby(["size", "ratio"], sort=True):
        by_arm = {arm: g.sort_values("seed") for arm, g in group.groupby("arm")}
        real = by_arm["real"]
        entry = {"size": int(size), "ratio": float(ratio), "arms": {}}
        for arm in ARMS:
            if arm not in by_arm:
                continue
            scores = by_arm[arm]
            mean, low, high = mean_ci(scores["rmse"])
            entry["arms"][arm] = {"rmse": mean, "ci_low": low, "ci_high": high, "train_rows": int(scores["train_rows"].iloc[0])}
            entry["arms"][arm] |= {name: float(scores[name].mean()) for name in SECONDARY_SCORES if name in scores}
            if arm != "real":
                entry["arms"][arm]["vs_real"] = _paired(real, scores)
        for arm in AUGMENTING:
            if arm in entry["arms"]:
                entry["arms"][arm] |= _judged(by_arm, arm, "rmse")
                if "macro_mae" in by_arm[arm] and by_arm[arm]["macro_mae"].notna().all():
                    entry["arms"][arm]["by_macro_mae"] = _judged(by_arm, arm, "macro_mae")
        # the headline: real and synthetic rows shuffled together
        entry["verdict"] = _verdict(entry["arms"].get("augmented"))
        if "augmented" in entry["arms"] and "more real" in entry["arms"]:
            entry["recovered_fraction_of_real_gain"] = recovered_fraction(
                entry["arms"]["real"]["rmse"], entry["arms"]["augmented"]["rmse"], entry["arms"]["more real"]["rmse"])
        out.append(entry)
    return out


def _paired(baseline: pd.DataFrame, candidate: pd.DataFrame, metric: str = "rmse") -> dict:
    """The candidate arm's improvement in `metric` (lower is better) over the baseline arm, paired on
    the seeds both ran."""
    seeds = sorted(set(baseline["seed"]) & set(candidate["seed"]))
    return paired_comparison(baseline.set_index("seed").loc[seeds, metric], candidate.set_index("seed").loc[seeds, metric])


def _judged(by_arm: dict[str, pd.DataFrame], arm: str, metric: str) -> dict:
    """An augmenting arm against real-only and each control that ran, and its verdict, by `metric`."""
    judged = {"vs_real": _paired(by_arm["real"], by_arm[arm], metric),
              "vs_controls": {control: _paired(by_arm[control], by_arm[arm], metric)
                              for control in CONTROLS if control in by_arm}}
    return judged | {"verdict": _verdict(judged)}


def _verdict(judged: dict | None) -> str:
    """The verdict of an arm's comparisons (`_judged`), or "not measured" for an arm that did not run."""
    if judged is None:
        return "not measured (the arm was not run, or there were not enough synthetic rows)"
    versus = judged["vs_real"]["verdict"]
    if versus != "gain":
        return versus
    controls = judged["vs_controls"]
    if not controls:
        return "gain over real only (the controls were not run)"
    if any(c["improvement"] <= 0 for c in controls.values()):
        return "no significant gain (does not beat the controls)"
    unsure = [name for name, c in controls.items() if c["ci_low"] <= 0]
    if unsure:  # ahead of a control on average, but the seeds cannot tell them apart
        return f"gain over real only, not significantly beyond {' and '.join(unsure)}"
    return "gain"


def to_dict(config: ExperimentConfig) -> dict:
    return asdict(config)
