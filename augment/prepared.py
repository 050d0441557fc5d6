"""The prepare stage and what it hands down: the table read once, its schema, split and clean rows.

`prepare` reads and validates DATA, detects the schema, cleans a working copy, splits it and fits
the preprocessing on train, and writes all of it into the run directory. `Prepared.load` reads it
back once per job and every later stage takes that object, so the input is read and cleaned once.

Row ids are positions in the input table (its index is always 0..n-1, see `data.normalize_table`),
and `Prepared.rows` / `Prepared.raw_rows` are the one way a split is applied.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from augment.data import read_table, resolve_source
from augment.errors import UserError
from augment.preprocess import Preprocessor
from augment.rows import RowReport, clean_rows
from augment.runs import (
    RESERVED_COLUMNS,
    STAGES,
    RunDir,
    file_hash,
    read_json,
    remove_stale_temporaries,
    value_hash,
    write_json,
)
from augment.schema import Schema, SchemaOverrides, detect_schema
from augment.split import limit_split, load_split, save_split, split_rows
from augment.threads import follow_run

if TYPE_CHECKING:
    from augment.distributed import World

MIN_TRAIN_ROWS = 50  # the GAN's validation-based epoch choice needs at least this many train rows


@dataclass
class PrepareConfig:
    """How DATA is read and split.

    seed: the split's seed. group_by: keep each value of this column (a user, an item) in one split.
    train_rows: keep only this many train rows (and validation in proportion), as a user with N
    labelled rows would have (see `split.limit_split`). schema_file, target, roles, entities: what
    the user declares about the schema; anything not declared is detected."""

    seed: int = 0
    group_by: str | None = None
    train_rows: int | None = None
    schema_file: str | None = None
    target: str | None = None
    roles: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)

    def overrides(self) -> SchemaOverrides:
        return SchemaOverrides.from_sources(self.schema_file, self.target, self.roles, self.entities)


def load_and_detect(data: str | Path, overrides: SchemaOverrides) -> tuple[pd.DataFrame, Schema, pd.DataFrame,
                                                                             RowReport]:
    """The raw table, its schema, the cleaned working copy and the row report."""
    df = read_table(data)
    reserved = sorted(RESERVED_COLUMNS & set(df.columns))
    if reserved:
        raise UserError(f"{data}: column(s) {', '.join(map(repr, reserved))} carry a name this tool writes on "
                        "synthetic rows (provenance and filter scores); rename them in the input")
    schema = detect_schema(df, overrides)
    clean, report = clean_rows(df, schema)
    return df, schema, clean, report


def prepare(data: str | Path, out: str | Path, config: PrepareConfig, world: World | None = None,
            stages: tuple[str, ...] = ()) -> Prepared:
    """Validate and split DATA into the run directory (rank 0 writes it; other ranks wait for it)
    and return it prepared.

    `stages`: the later stages the job will fit ("tabular", "text"); what they need from the data
    (enough train rows, a text column) is checked before anything is written."""
    from augment.distributed import World

    world = world or World()
    prepared = _prepare(data, out, config, stages) if world.is_main else None
    world.barrier()
    return prepared or Prepared.load(out)


def _prepare(data: str | Path, out: str | Path, config: PrepareConfig, stages: tuple[str, ...]) -> Prepared | None:
    """The prepared run when this call prepared it; None when the run was already current."""
    import torch

    run = RunDir(out)
    source = resolve_source(data)
    source_hash = file_hash(source)
    schema_hash = file_hash(config.schema_file) if config.schema_file else None
    settings = asdict(config)
    if config.train_rows is None:
        del settings["train_rows"]  # runs made before the option keep their inputs hash
    inputs = value_hash({"data": source_hash, "config": settings, "schema_file": schema_hash})
    if run.stage_is_current("prepare", inputs):
        schema = Schema.load(run.file("schema.json"))
        _check_needs(schema, len(load_split(run)["train"]), stages)
        tqdm.write(f"prepare: up to date in {run.path}")
        return None
    started = time.time()
    df, schema, clean, report = load_and_detect(data, config.overrides())
    split = split_rows(clean, schema.target, config.seed, config.group_by)
    if config.train_rows is not None:
        split = limit_split(split, clean[schema.target] if schema.target else None, config.train_rows, config.seed)
    _check_needs(schema, len(split["train"]), stages)
    remove_stale_temporaries(run.path)
    run.invalidate_stages(STAGES)  # models, rows and reports of other data are not this run's
    run.path.mkdir(parents=True, exist_ok=True)
    schema.save(run.file("schema.json"))
    outputs = ["schema.json", *save_split(run, split)]
    preprocessor = Preprocessor().fit(clean.loc[split["train"]], schema)
    write_json(run.file("preprocess.json"), preprocessor.to_dict())
    outputs.append("preprocess.json")
    run.update_manifest(data={"source": str(data), "path": str(source.resolve()), "sha256": source_hash,
                              "rows": len(df)}, threads=torch.get_num_threads())  # see threads.follow_run
    run.record_stage("prepare", inputs, outputs, started, config=asdict(config), rows=report.to_dict(),
                     split_sizes={name: len(ids) for name, ids in split.items()})
    return Prepared(run, df, schema, split, clean, preprocessor)


def _check_needs(schema: Schema, train_rows: int, stages: tuple[str, ...]) -> None:
    if "tabular" in stages and train_rows < MIN_TRAIN_ROWS:
        raise UserError(f"the train split has {train_rows} rows; the tabular GAN needs at least {MIN_TRAIN_ROWS} "
                        "(give more rows, or a larger --train-rows)")
    if "text" in stages and not schema.text_columns:
        raise UserError("the schema has no text column: there is nothing for the text generator to learn "
                        "(declare one with --role COLUMN=text, or fit with --stage tabular)")


@dataclass
class Prepared:
    """A prepared run, read once: the input table as read, its schema, split, clean rows, preprocessing.

    raw: the input table, unchanged (index = row ids). clean: the typed working copy (rows.py),
    without the rows left out of every split. split: row ids of train, validation and test."""

    run: RunDir
    raw: pd.DataFrame
    schema: Schema
    split: dict[str, np.ndarray]
    clean: pd.DataFrame
    preprocessor: Preprocessor

    @classmethod
    def load(cls, run: RunDir | str | Path) -> Prepared:
        """Read the run's prepared data; the input file must be the one it was prepared from."""
        run = run if isinstance(run, RunDir) else RunDir(run)
        manifest = run.manifest()
        if "prepare" not in manifest.get("stages", {}):
            raise UserError(f"{run.path}: not a prepared run; run `python -m augment fit DATA --out {run.path}` first")
        data = manifest["data"]
        path = Path(data["path"])
        if not path.is_file():
            raise UserError(f"{run.path}: its input {path} is gone; restore it, or prepare the run again")
        if file_hash(path) != data["sha256"]:
            raise UserError(f"{path}: changed since {run.path} was prepared from it; restore it, or prepare the run "
                            f"again (`python -m augment fit {path} --out {run.path}`), which refits every stage")
        if follow_run(manifest.get("threads")):
            tqdm.write(f"threads: {manifest['threads']}, as {run.path} was prepared with, so its rows do not depend "
                       "on the load (--threads N to choose)")
        raw = read_table(path)
        schema = Schema.load(run.file("schema.json"))
        clean, _ = clean_rows(raw, schema)
        preprocessor = Preprocessor.from_dict(read_json(run.file("preprocess.json")))
        return cls(run, raw, schema, load_split(run), clean, preprocessor)

    def rows(self, name: str) -> pd.DataFrame:
        """The clean rows of a split (train, validation or test)."""
        return self.clean.loc[self.split[name]]

    def raw_rows(self, name: str) -> pd.DataFrame:
        """The input rows of a split, exactly as read."""
        return self.raw.loc[self.split[name]]

    @property
    def raw_path(self) -> Path:
        """The input file the run was prepared from."""
        return Path(self.run.manifest()["data"]["path"])

    @property
    def fingerprint(self) -> str:
        """The prepare stage's inputs hash: what every later stage's resume key starts from."""
        return self.run.manifest()["stages"]["prepare"]["inputs_hash"]
