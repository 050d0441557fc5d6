"""The model stages of a run, each recorded in the manifest and skipped on a rerun when its inputs match.

Each takes the `Prepared` run (prepared.py: the table, schema, split and clean rows, read once).
tabular: fit the conditional GAN on the train split (validation picks the epoch).
text: fit the LM's LoRA adapter on the train split (validation perplexity picks the step).
synthesize: rounds of sample -> write text -> filter, then synthetic_all.parquet and augmented.parquet.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from augment.data import read_table, write_table
from augment.errors import UserError
from augment.prepared import Prepared
from augment.rows import as_input_types
from augment.runs import TABULAR_DIR, TEXT_DIR, RunDir, file_hash, provenance, read_json, value_hash, write_json
from augment.sample import RunSampler, generation_config
from augment.schema import Schema

if TYPE_CHECKING:
    import torch

    from augment.distributed import World


# patience counts validation scores (every 2 epochs) without improvement
PROFILES = {"quick": {"epochs": 60, "patience": 15}, "full": {"epochs": 300, "patience": 25}}
TEXT_PROFILES = {"quick": {"steps": 120, "eval_every": 40}, "full": {"steps": 600, "eval_every": 100}}


def _earlier_model(init_from: str | None, folder: str, weights: str) -> Path | None:
    """The weights file of an earlier run's model, for --init-from (None without it)."""
    if not init_from:
        return None
    return RunDir(init_from).require(*folder.split("/"), weights, hint=f"--init-from needs a run with {folder}")


def _model_stage_inputs(prepared: Prepared, seed: int, config, earlier: Path | None) -> str:
    """A model stage is current when the prepared data, seed, config and warm start are unchanged."""
    return value_hash({"prepare": prepared.fingerprint, "seed": seed, "config": asdict(config),
                       "init_from": file_hash(earlier) if earlier else None})


def fit_tabular(prepared: Prepared, seed: int, profile: str = "quick", epochs: int | None = None,
                init_from: str | None = None, world: World | None = None) -> RunDir:
    """Fit the conditional GAN on the train split into RUN/models/tabular (skipped when current)."""
    from augment.distributed import World
    from augment.tabular.synthesizer import GANConfig, TabularGAN

    world = world or World()
    run = prepared.run
    settings = dict(PROFILES[profile])
    if epochs is not None:
        settings["epochs"] = epochs
    config = GANConfig(**settings)
    earlier = _earlier_model(init_from, TABULAR_DIR, "generator.safetensors")
    inputs = _model_stage_inputs(prepared, seed, config, earlier)
    if run.stage_is_current("tabular", inputs):
        tqdm.write(f"tabular: up to date in {run.file(TABULAR_DIR)}")
        return run
    started = time.time()
    gan = TabularGAN(config, seed).fit(prepared.rows("train"), prepared.schema, prepared.rows("validation"),
                                       init_from=TabularGAN.load(earlier.parent) if earlier else None, world=world)
    if not world.is_main:
        world.barrier()  # rank 0 saves the model, the same on every rank
        return run
    run.invalidate_stages(("synthesize",))  # rows of the old generator
    gan.save(run.file(TABULAR_DIR))
    for rule in gan.determined:
        tqdm.write(f"tabular: {rule.column} follows from {rule.source} on every train row: looked up, not generated")
    if gan.impossible.pairs:
        among = "discrete columns and the numbers' regions" if gan.modes else "discrete columns"
        tqdm.write(f"tabular: {len(gan.impossible.pairs)} level pairs of {among} that no train row shows are kept out "
                   "of sampled rows")
    outputs = [f"{TABULAR_DIR}/{name}" for name in ("generator.safetensors", "critic.safetensors", "config.json")]
    best = next((h for h in gan.history if h["epoch"] == gan.best_epoch), {})
    run.record_stage("tabular", inputs, outputs, started, config=asdict(config), seed=seed,
                     epochs_trained=len(gan.history), best_epoch=gan.best_epoch,
                     validation_quality=best.get("validation_quality"), processes=world.size,
                     determined={rule.column: rule.source for rule in gan.determined},
                     impossible_pairs=len(gan.impossible.pairs))
    world.barrier()
    return run


def report_run(prepared: Prepared, seed: int) -> Path | None:
    """The fidelity report of the admitted synthetic rows against the real test split, in RUN/report/;
    None when too few rows were admitted to measure (the augmented table stands either way), and
    an earlier run's report, which would describe other rows, is removed."""
    from augment.evaluate.report import MIN_ROWS, measure, remove_report, write_report

    run, schema = prepared.run, prepared.schema
    augmented = read_table(run.file("augmented.parquet"))
    synthetic = augmented[augmented["is_synthetic"]]
    if len(synthetic) < MIN_ROWS:
        remove_report(run.file("report"))
        return None
    if not (synthetic[schema.text_columns].notna().any().any() if schema.text_columns else True):
        schema = Schema([c for c in schema.columns if c.role != "text"], schema.entities)  # no text was written
    real, train = (prepared.raw_rows(name)[schema.names].reset_index(drop=True) for name in ("test", "train"))
    outcome = run.manifest()["stages"]["synthesize"]
    extra = {"filter": {"outcomes": outcome["outcomes"], "acceptance_rate": outcome["acceptance_rate"]},
             "provenance": provenance({"data": prepared.raw_path, "augmented": run.file("augmented.parquet")})
             | {"seed": seed}}
    downstream = run.file("report", "train", "results.json")  # written by `python -m augment train --run RUN`
    if downstream.is_file():
        extra["downstream"] = read_json(downstream)["summary"]
    results = measure(real, synthetic[schema.names], schema, seed, train, extra=extra)
    return write_report(results, real, synthetic[schema.names], schema, run.file("report"))


def fit_text_stage(prepared: Prepared, seed: int, profile: str = "quick", steps: int | None = None,
                   model: str | None = None, init_from: str | None = None, world: World | None = None,
                   prompt: str | None = None) -> RunDir:
    """Fit the LM's LoRA adapter on the train split's text into RUN/models/text (skipped when current)."""
    from augment.distributed import World
    from augment.text.lora import TextConfig, fit_text
    from augment.text.prompts import PromptTemplate

    world = world or World()
    run, schema = prepared.run, prepared.schema
    settings = dict(TEXT_PROFILES[profile])
    if steps is not None:
        settings["steps"] = steps
    if model:
        settings["model"] = model
    if prompt:
        settings["prompt"] = prompt
    config = TextConfig(**settings)
    earlier = _earlier_model(init_from, f"{TEXT_DIR}/adapter", "adapter_model.safetensors")
    inputs = _model_stage_inputs(prepared, seed, config, earlier)
    if run.stage_is_current("text", inputs):
        tqdm.write(f"text: up to date in {run.file(TEXT_DIR)}")
        return run
    started = time.time()
    if not schema.text_columns:
        raise UserError("the schema has no text column: there is nothing for the text generator to learn")
    if world.is_main:
        run.invalidate_stages(("synthesize",))  # rows of the old text model
    result = fit_text(prepared.rows("train"), prepared.rows("validation"), PromptTemplate.from_schema(schema),
                      run.file(TEXT_DIR), config, seed, init_adapter=earlier.parent if earlier else None, world=world)
    if world.is_main:
        run.record_stage("text", inputs, [f"{TEXT_DIR}/adapter/template.json"], started, config=asdict(config),
                         seed=seed, best_step=result.best_step, validation_perplexity=result.best_perplexity,
                         completion_tokens_per_second=result.completion_tokens_per_second, processes=world.size,
                         bfloat16_autocast=result.bfloat16)
    world.barrier()
    return run


@dataclass
class SynthesisConfig:
    """The synthesize stage's settings: how many rows to admit, the generation budget and the filter."""
    rows: int = 1000  # admitted synthetic rows wanted
    max_generated_factor: float = 4.0  # never generate more than this many times `rows`
    filter_mode: str = "drs"
    max_rating_gap: float = 2.0  # the filter's rating_contradiction check, in stars
    guidance: float | None = None  # how hard the text is pushed toward its rating (None: the text generator's default)

    def __post_init__(self):
        if self.rows < 1:  # refused before any stage is fit
            raise UserError(f"--rows {self.rows}: must be at least 1")


def synthesis_inputs(run: RunDir, config: SynthesisConfig, seed: int, device: str | torch.device = "cpu") -> str:
    """What the synthesized rows depend on: the fitted stages, the settings (text generation's on
    `device` too), the seed."""
    stages = run.manifest()["stages"]
    upstream = {name: stages[name]["inputs_hash"] for name in ("prepare", "tabular", "text") if name in stages}
    return value_hash({"upstream": upstream, "config": asdict(config), "seed": seed,
                       "generation": asdict(generation_config(guidance=config.guidance, device=device))})


def synthesize(prepared: Prepared, config: SynthesisConfig, seed: int, device: str | torch.device = "cpu") -> dict:
    """Rounds of GAN rows -> text -> filter until `rows` are admitted; each round saved and resumable.

    Writes RUN/synthetic_all.parquet (every generated row with its scores and reject reason) and
    RUN/augmented.parquet (the real train rows, unchanged, then the first `rows` admitted rows).
    """
    from augment.filter import FilterConfig, filter_rows

    run, schema = prepared.run, prepared.schema
    stages = run.manifest()["stages"]
    inputs = synthesis_inputs(run, config, seed, device)
    if run.stage_is_current("synthesize", inputs):
        tqdm.write("synthesize: up to date")
        return stages["synthesize"]
    started = time.time()
    train, holdout = prepared.rows("train"), prepared.rows("validation")
    filter_config = FilterConfig(mode=config.filter_mode, max_rating_gap=config.max_rating_gap)
    with_text = bool(schema.text_columns) and "text" in stages
    rounds_dir = run.file("rounds")
    if not (rounds_dir / "inputs.json").is_file() or read_json(rounds_dir / "inputs.json") != {"inputs": inputs}:
        shutil.rmtree(rounds_dir, ignore_errors=True)  # rounds of other inputs are not ours to reuse
        write_json(rounds_dir / "inputs.json", {"inputs": inputs})
    parts, admitted, generated, round_no, sampler = [], 0, 0, 0, None
    bound = int(config.rows * config.max_generated_factor)
    bar = tqdm(total=config.rows, desc="admitted", unit="row")  # across rounds: admitted N / the rows asked
    while admitted < config.rows and generated < bound:
        path = rounds_dir / f"round-{round_no:03d}.parquet"
        if not path.is_file():
            rate = admitted / generated if generated else 0.6
            size = min(bound - generated, max(16, int(np.ceil((config.rows - admitted) / max(rate, 0.1) * 1.15))))
            round_seed = seed * 1000 + round_no
            sampler = sampler or RunSampler(prepared, with_text, device=device, guidance=config.guidance)  # once
            rows = sampler.rows(size, round_seed)
            rows.index = [f"r{round_no}-{i}" for i in range(len(rows))]
            scored, _ = filter_rows(rows, train, holdout, schema, prepared.preprocessor, filter_config, round_seed)
            write_table(scored.rename_axis("synthetic_id").reset_index(), path)
        part = read_table(path)
        parts.append(part)
        admitted += int(part["admitted"].sum())
        bar.update(min(config.rows, admitted) - bar.n)
        generated += len(part)
        round_no += 1
        bar.set_postfix(round=round_no, generated=generated, acceptance=f"{admitted / max(generated, 1):.0%}")
    bar.close()
    everything = as_input_types(pd.concat(parts, ignore_index=True), schema)
    write_table(everything, run.file("synthetic_all.parquet"))
    chosen = everything[everything["admitted"]].head(config.rows)
    generator = "tabular-gan+text-lm" if with_text else "tabular-gan"
    write_table(augmented_table(prepared.raw_rows("train"), chosen, generator), run.file("augmented.parquet"))
    reasons = everything["reject_reason"].replace("", "admitted").value_counts()
    info = {
        "generated": len(everything), "admitted": int(everything["admitted"].sum()), "kept": len(chosen),
        "rounds": round_no, "acceptance_rate": round(float(everything["admitted"].mean()), 4),
        "outcomes": {k: int(v) for k, v in reasons.items()},
        "short_of_target": max(0, config.rows - len(chosen)),
    }
    if info["short_of_target"]:
        tqdm.write(f"synthesize: only {len(chosen)} of {config.rows} rows admitted within "
                   f"{bound} generated rows (acceptance {info['acceptance_rate']:.0%})")
    run.record_stage("synthesize", inputs, ["synthetic_all.parquet", "augmented.parquet"], started,
                     config=asdict(config), seed=seed, **info)
    return run.manifest()["stages"]["synthesize"]


def augmented_table(real_train: pd.DataFrame, admitted: pd.DataFrame, generator: str) -> pd.DataFrame:
    """Real train rows exactly as read, then admitted synthetic rows with provenance columns."""
    real = real_train.copy()
    real["is_synthetic"] = False
    real["generator"] = "real"
    real["synthetic_id"] = None
    real["score_p_real"] = np.nan
    synthetic = admitted[[c for c in real_train.columns]].copy()
    for name in real_train.columns:  # synthetic values in the real column's dtype where that is lossless
        try:
            converted = synthetic[name].astype(real_train[name].dtype)
            if (converted.isna() == synthetic[name].isna()).all():
                synthetic[name] = converted
        except (TypeError, ValueError):
            pass
    synthetic["is_synthetic"] = True
    synthetic["generator"] = generator
    synthetic["synthetic_id"] = admitted["synthetic_id"].to_numpy()
    synthetic["score_p_real"] = admitted["score_p_real"].to_numpy()
    return pd.concat([real.reset_index(drop=True), synthetic.reset_index(drop=True)], ignore_index=True)
