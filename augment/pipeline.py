"""The stages of a run, each recorded in the manifest and skipped on a rerun when its inputs match.

prepare: read and validate the table, detect the schema, clean rows, split, fit preprocessing.
tabular: fit the conditional GAN on the train split (validation picks the epoch).
text: fit the LM's LoRA adapter on the train split (validation perplexity picks the step).
synthesize: rounds of sample -> write text -> filter, then synthetic_all.parquet and augmented.parquet.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from augment.data import read_table, resolve_source, write_table
from augment.errors import UserError
from augment.preprocess import Preprocessor
from augment.rows import RowReport, clean_rows
from augment.runs import RunDir, file_hash, read_json, value_hash, write_json
from augment.schema import Schema, SchemaOverrides, detect_schema
from augment.split import limit_split, load_split, save_split, split_rows

if TYPE_CHECKING:
    import torch

    from augment.distributed import World


@dataclass
class PrepareConfig:
    seed: int = 0
    group_by: str | None = None
    train_rows: int | None = None  # fit on this many train rows only (see split.limit_split)
    schema_file: str | None = None
    target: str | None = None
    roles: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)

    def overrides(self) -> SchemaOverrides:
        return SchemaOverrides.from_sources(self.schema_file, self.target, self.roles, self.entities)


def load_and_detect(data: str, overrides: SchemaOverrides) -> tuple[pd.DataFrame, Schema, pd.DataFrame, RowReport]:
    """The raw table, its schema, the cleaned working copy and the row report."""
    df = read_table(data)
    schema = detect_schema(df, overrides)
    clean, report = clean_rows(df, schema)
    return df, schema, clean, report


def prepare(data: str, out: str | Path, config: PrepareConfig, world: World | None = None) -> RunDir:
    """Validate and split DATA into the run directory (rank 0 writes it; other ranks wait for it)."""
    world = world or _one_process()
    if world.is_main:
        _prepare(data, out, config)
    world.barrier()
    return RunDir(out)


def _one_process() -> World:
    from augment.distributed import World  # torch: imported only by the stages that need it

    return World()


def _prepare(data: str, out: str | Path, config: PrepareConfig) -> RunDir:
    run = RunDir(out)
    source = resolve_source(data)
    schema_hash = file_hash(config.schema_file) if config.schema_file else None
    settings = asdict(config)
    if config.train_rows is None:
        del settings["train_rows"]  # runs made before the option keep their inputs hash
    inputs = value_hash({"data": file_hash(source), "config": settings, "schema_file": schema_hash})
    if run.stage_is_current("prepare", inputs):
        tqdm.write(f"prepare: up to date in {run.path}")
        return run
    started = time.time()
    df, schema, clean, report = load_and_detect(data, config.overrides())
    split = split_rows(clean, schema.target, config.seed, config.group_by)
    if config.train_rows is not None:
        split = limit_split(split, clean[schema.target] if schema.target else None, config.train_rows, config.seed)
    run.path.mkdir(parents=True, exist_ok=True)
    schema.save(run.file("schema.json"))
    outputs = ["schema.json", *save_split(run, split)]
    preprocessor = Preprocessor().fit(clean.loc[split["train"]], schema)
    write_json(run.file("preprocess.json"), preprocessor.to_dict())
    outputs.append("preprocess.json")
    run.update_manifest(data={"source": str(data), "path": str(source), "sha256": file_hash(source), "rows": len(df)})
    run.record_stage(
        "prepare",
        inputs,
        outputs,
        started,
        config=asdict(config),
        rows=report.to_dict(),
        split_sizes={name: len(ids) for name, ids in split.items()},
    )
    return run


# patience counts validation scores (every 2 epochs) without improvement
PROFILES = {"quick": {"epochs": 60, "patience": 15}, "full": {"epochs": 300, "patience": 25}}
TEXT_PROFILES = {"quick": {"steps": 120, "eval_every": 40}, "full": {"steps": 600, "eval_every": 100}}
TABULAR_DIR = "models/tabular"
TEXT_DIR = "models/text"


def _earlier_model(init_from: str | None, folder: str, weights: str) -> Path | None:
    """The weights file of an earlier run's model, for --init-from (None without it)."""
    if not init_from:
        return None
    return RunDir(init_from).require(*folder.split("/"), weights, hint=f"--init-from needs a run with {folder}")


def _model_stage_inputs(run: RunDir, seed: int, config, earlier: Path | None) -> str:
    """A model stage is current when the prepared data, seed, config and warm start are unchanged."""
    prepared = run.manifest()["stages"]["prepare"]["inputs_hash"]
    return value_hash({"prepare": prepared, "seed": seed, "config": asdict(config),
                       "init_from": file_hash(earlier) if earlier else None})


def fit_tabular(run: RunDir, seed: int, profile: str = "quick", epochs: int | None = None,
                init_from: str | None = None, world: World | None = None) -> RunDir:
    from augment.tabular.synthesizer import GANConfig, TabularGAN

    world = world or _one_process()
    settings = dict(PROFILES[profile])
    if epochs is not None:
        settings["epochs"] = epochs
    config = GANConfig(**settings)
    earlier = _earlier_model(init_from, TABULAR_DIR, "generator.safetensors")
    inputs = _model_stage_inputs(run, seed, config, earlier)
    if run.stage_is_current("tabular", inputs):
        tqdm.write(f"tabular: up to date in {run.file(TABULAR_DIR)}")
        return run
    started = time.time()
    _, schema, split, clean = load_prepared(run)
    gan = TabularGAN(config, seed).fit(clean.loc[split["train"]], schema, clean.loc[split["validation"]],
                                       init_from=TabularGAN.load(earlier.parent) if earlier else None, world=world)
    if not world.is_main:
        world.barrier()  # rank 0 saves the model, the same on every rank
        return run
    gan.save(run.file(TABULAR_DIR))
    outputs = [f"{TABULAR_DIR}/{name}" for name in ("generator.safetensors", "critic.safetensors", "config.json")]
    best = next((h for h in gan.history if h["epoch"] == gan.best_epoch), {})
    run.record_stage("tabular", inputs, outputs, started, config=asdict(config), seed=seed,
                     epochs_trained=len(gan.history), best_epoch=gan.best_epoch,
                     validation_quality=best.get("validation_quality"), processes=world.size)
    world.barrier()
    return run


def load_prepared(run: RunDir) -> tuple[pd.DataFrame, Schema, dict, pd.DataFrame]:
    """What later stages need from `prepare`: the raw table, the schema, the split, the clean rows."""
    manifest = run.manifest()
    if "prepare" not in manifest.get("stages", {}):
        run.require("schema.json", hint="run `python -m augment fit DATA --out RUN` first")
    df = read_table(manifest["data"]["path"])
    schema = Schema.load(run.file("schema.json"))
    clean, _ = clean_rows(df, schema)
    return df, schema, load_split(run), clean


def load_preprocessor(run: RunDir) -> Preprocessor:
    return Preprocessor.from_dict(read_json(run.file("preprocess.json")))


def report_run(run: RunDir, seed: int) -> Path | None:
    """The fidelity report of the admitted synthetic rows against the real test split, in RUN/report/;
    None when too few rows were admitted to measure (the augmented table stands either way), and
    an earlier run's report, which would describe other rows, is removed."""
    from evaluate.report import MIN_ROWS, measure, remove_report, write_report

    df, schema, split, _ = load_prepared(run)
    augmented = read_table(run.file("augmented.parquet"))
    synthetic = augmented[augmented["is_synthetic"]]
    if len(synthetic) < MIN_ROWS:
        remove_report(run.file("report"))
        return None
    if not (synthetic[schema.text_columns].notna().any().any() if schema.text_columns else True):
        schema = Schema([c for c in schema.columns if c.role != "text"], schema.entities)  # no text was written
    real, train = (df.iloc[split[name]][schema.names].reset_index(drop=True) for name in ("test", "train"))
    outcome = run.manifest()["stages"]["synthesize"]
    extra = {"filter": {"outcomes": outcome["outcomes"], "acceptance_rate": outcome["acceptance_rate"]}}
    downstream = run.file("report", "train", "results.json")  # written by `python -m train --run RUN`
    if downstream.is_file():
        extra["downstream"] = read_json(downstream)["summary"]
    results = measure(real, synthetic[schema.names], schema, seed, train, extra=extra)
    return write_report(results, real, synthetic[schema.names], schema, run.file("report"))


def fit_text_stage(run: RunDir, seed: int, profile: str = "quick", steps: int | None = None,
                   model: str | None = None, init_from: str | None = None, world: World | None = None) -> RunDir:
    from augment.text.lora import TextConfig, fit_text
    from augment.text.prompts import PromptTemplate

    world = world or _one_process()
    settings = dict(TEXT_PROFILES[profile])
    if steps is not None:
        settings["steps"] = steps
    if model:
        settings["model"] = model
    config = TextConfig(**settings)
    earlier = _earlier_model(init_from, f"{TEXT_DIR}/adapter", "adapter_model.safetensors")
    inputs = _model_stage_inputs(run, seed, config, earlier)
    if run.stage_is_current("text", inputs):
        tqdm.write(f"text: up to date in {run.file(TEXT_DIR)}")
        return run
    started = time.time()
    _, schema, split, clean = load_prepared(run)
    if not schema.text_columns:
        raise UserError("the schema has no text column: there is nothing for the text generator to learn")
    result = fit_text(clean.loc[split["train"]], clean.loc[split["validation"]], PromptTemplate.from_schema(schema),
                      run.file(TEXT_DIR), config, seed, init_adapter=earlier.parent if earlier else None, world=world)
    if world.is_main:
        run.record_stage("text", inputs, [f"{TEXT_DIR}/adapter/template.json"], started, config=asdict(config),
                         seed=seed, best_step=result.best_step, validation_perplexity=result.best_perplexity,
                         completion_tokens_per_second=result.completion_tokens_per_second, processes=world.size)
    world.barrier()
    return run


@dataclass
class SynthesisConfig:
    rows: int = 1000  # admitted synthetic rows wanted
    max_generated_factor: float = 4.0  # never generate more than this many times `rows`
    filter_mode: str = "rejection"
    max_rating_gap: float = 2.0  # the filter's rating_contradiction check, in stars
    guidance: float | None = None  # how hard the text is pushed toward its rating (None: the text generator's default)

    def __post_init__(self):
        if self.rows < 1:  # refused before any stage is fit
            raise UserError(f"--rows {self.rows}: must be at least 1")


def synthesis_inputs(run: RunDir, config: SynthesisConfig, seed: int) -> str:
    """What the synthesized rows depend on: the fitted stages, the settings (text generation's too), the seed."""
    from augment.sample import generation_config

    stages = run.manifest()["stages"]
    upstream = {name: stages[name]["inputs_hash"] for name in ("prepare", "tabular", "text") if name in stages}
    return value_hash({"upstream": upstream, "config": asdict(config), "seed": seed,
                       "generation": asdict(generation_config(guidance=config.guidance))})


def synthesize(run: RunDir, config: SynthesisConfig, seed: int, device: str | torch.device = "cpu") -> dict:
    """Rounds of GAN rows -> text -> filter until `rows` are admitted; each round saved and resumable.

    Writes RUN/synthetic_all.parquet (every generated row with its scores and reject reason) and
    RUN/augmented.parquet (the real train rows, unchanged, then the first `rows` admitted rows).
    """
    from augment.filter import FilterConfig, filter_rows
    from augment.sample import RunSampler

    stages = run.manifest()["stages"]
    inputs = synthesis_inputs(run, config, seed)
    if run.stage_is_current("synthesize", inputs):
        tqdm.write("synthesize: up to date")
        return stages["synthesize"]
    started = time.time()
    df, schema, split, clean = load_prepared(run)
    train, holdout = clean.loc[split["train"]], clean.loc[split["validation"]]
    preprocessor = load_preprocessor(run)
    filter_config = FilterConfig(mode=config.filter_mode, max_rating_gap=config.max_rating_gap)
    with_text = bool(schema.text_columns) and "text" in stages
    rounds_dir = run.file("rounds")
    if not (rounds_dir / "inputs.json").is_file() or read_json(rounds_dir / "inputs.json") != {"inputs": inputs}:
        shutil.rmtree(rounds_dir, ignore_errors=True)  # rounds of other inputs are not ours to reuse
        write_json(rounds_dir / "inputs.json", {"inputs": inputs})
    parts, admitted, generated, round_no, sampler = [], 0, 0, 0, None
    bound = int(config.rows * config.max_generated_factor)
    while admitted < config.rows and generated < bound:
        path = rounds_dir / f"round-{round_no:03d}.parquet"
        if not path.is_file():
            rate = admitted / generated if generated else 0.6
            size = min(bound - generated, max(16, int(np.ceil((config.rows - admitted) / max(rate, 0.1) * 1.15))))
            round_seed = seed * 1000 + round_no
            sampler = sampler or RunSampler(run, with_text, device=device, guidance=config.guidance)  # loaded once
            rows = sampler.rows(size, round_seed)
            rows.index = [f"r{round_no}-{i}" for i in range(len(rows))]
            scored, _ = filter_rows(rows, train, holdout, schema, preprocessor, filter_config, round_seed)
            write_table(scored.rename_axis("synthetic_id").reset_index(), path)
        part = read_table(path)
        parts.append(part)
        admitted += int(part["admitted"].sum())
        generated += len(part)
        round_no += 1
    everything = pd.concat(parts, ignore_index=True)
    write_table(everything, run.file("synthetic_all.parquet"))
    chosen = everything[everything["admitted"]].head(config.rows)
    generator = "tabular-gan+text-lm" if with_text else "tabular-gan"
    write_table(augmented_table(df.iloc[split["train"]], chosen, generator), run.file("augmented.parquet"))
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
