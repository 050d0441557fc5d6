"""The stages of a run, each recorded in the manifest and skipped on a rerun when its inputs match.

prepare: read and validate the table, detect the schema, clean rows, split, fit preprocessing.
tabular: fit the conditional GAN on the train split (validation picks the epoch).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from augment.data import read_table, resolve_source
from augment.preprocess import Preprocessor
from augment.rows import RowReport, clean_rows
from augment.runs import RunDir, file_hash, read_json, value_hash, write_json
from augment.schema import Schema, SchemaOverrides, detect_schema
from augment.split import load_split, save_split, split_rows


@dataclass
class PrepareConfig:
    seed: int = 0
    group_by: str | None = None
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


def prepare(data: str, out: str | Path, config: PrepareConfig) -> RunDir:
    run = RunDir(out)
    source = resolve_source(data)
    schema_hash = file_hash(config.schema_file) if config.schema_file else None
    inputs = value_hash({"data": file_hash(source), "config": asdict(config), "schema_file": schema_hash})
    if run.stage_is_current("prepare", inputs):
        tqdm.write(f"prepare: up to date in {run.path}")
        return run
    started = time.time()
    df, schema, clean, report = load_and_detect(data, config.overrides())
    split = split_rows(clean, schema.target, config.seed, config.group_by)
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
TABULAR_DIR = "models/tabular"


def fit_tabular(run: RunDir, seed: int, profile: str = "quick", epochs: int | None = None) -> RunDir:
    from augment.tabular.synthesizer import GANConfig, TabularGAN

    settings = dict(PROFILES[profile])
    if epochs is not None:
        settings["epochs"] = epochs
    config = GANConfig(**settings)
    prepared = run.manifest()["stages"]["prepare"]["inputs_hash"]
    inputs = value_hash({"prepare": prepared, "seed": seed, "config": asdict(config)})
    if run.stage_is_current("tabular", inputs):
        tqdm.write(f"tabular: up to date in {run.file(TABULAR_DIR)}")
        return run
    started = time.time()
    _, schema, split, clean = load_prepared(run)
    gan = TabularGAN(config, seed).fit(clean.loc[split["train"]], schema, clean.loc[split["validation"]])
    gan.save(run.file(TABULAR_DIR))
    outputs = [f"{TABULAR_DIR}/{name}" for name in ("generator.safetensors", "critic.safetensors", "config.json")]
    best = next((h for h in gan.history if h["epoch"] == gan.best_epoch), {})
    run.record_stage("tabular", inputs, outputs, started, config=asdict(config), seed=seed,
                     epochs_trained=len(gan.history), best_epoch=gan.best_epoch,
                     validation_quality=best.get("validation_quality"))
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


def report_tabular(run: RunDir, synthetic: pd.DataFrame, seed: int) -> Path:
    """The fidelity report of synthetic behavior rows against the real test split, in RUN/report/."""
    from evaluate.report import measure, write_report

    df, schema, split, _ = load_prepared(run)
    tabular = Schema([c for c in schema.columns if c.role != "text"], schema.entities)
    real = df.iloc[split["test"]][tabular.names].reset_index(drop=True)
    results = measure(real, synthetic[tabular.names], tabular, seed)
    return write_report(results, real, synthetic[tabular.names], tabular, run.file("report"))
