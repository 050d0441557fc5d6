"""Every job the command line runs, as a library function with keyword arguments.

`python -m augment COMMAND` parses flags and calls one of these; a notebook or another tool calls
them the same way. Which stages a job fits is decided here, in `stages_to_fit`, and nowhere else.
Settings are checked before any stage writes anything.

    from augment import jobs
    run = jobs.fit("reviews.csv", "runs/a", stage="tabular", seed=1)
    jobs.sample("runs/a", rows=500, out="low.parquet", conditions={"Rating": "1"})
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from tqdm.auto import tqdm

from augment.data import as_table, table_format
from augment.errors import UserError
from augment.prepared import PrepareConfig, Prepared, load_and_detect, prepare
from augment.runs import TABULAR_DIR, TEXT_DIR, RunDir, provenance, write_json
from augment.schema import Schema, SchemaOverrides
from augment.text.prompts import PROMPT_STYLES

if TYPE_CHECKING:
    from augment.distributed import World
    from augment.filter import FilterConfig
    from augment.pipeline import SynthesisConfig
    from augment.train.experiment import ExperimentConfig

FIT_STAGES = ("prepare", "tabular", "text", "all")
PROFILES = ("quick", "full")


@dataclass
class ModelConfig:
    """How the generators are fit.

    profile: quick (at most 60 GAN epochs, 120 LoRA steps) or full (300 epochs, 600 steps).
    epochs, text_steps: override the profile's most GAN epochs / LoRA steps (the best is kept).
    text_model: the causal LM, a local folder or hub id (None: SmolLM2-135M-Instruct from its wheel).
    text_prompt: "fields" (the row's lines, default) or "chat" (asked in the LM's chat template).
    init_from: an earlier run directory to warm-start both generators from (same columns)."""

    profile: str = "quick"
    epochs: int | None = None
    text_steps: int | None = None
    text_model: str | None = None
    init_from: str | None = None
    text_prompt: str | None = None

    def __post_init__(self):
        if self.profile not in PROFILES:
            raise UserError(f"--profile {self.profile}: use one of {', '.join(PROFILES)}")
        for flag, value in (("--epochs", self.epochs), ("--text-steps", self.text_steps)):
            if value is not None and value < 1:
                raise UserError(f"{flag} {value}: must be at least 1")
        if self.text_prompt not in (None, *PROMPT_STYLES):
            raise UserError(f"--text-prompt {self.text_prompt}: use one of {', '.join(PROMPT_STYLES)}")


def stages_to_fit(stage: str, schema: Schema | None = None) -> tuple[str, ...]:
    """The model stages a job fits: `stage` names the last one ("all": the tabular GAN, then the text
    LM when the schema has text; without a schema, the stages the data must support)."""
    if stage not in FIT_STAGES:
        raise UserError(f"--stage {stage}: use one of {', '.join(FIT_STAGES)}")
    if stage == "all":
        return ("tabular", "text") if schema is not None and schema.text_columns else ("tabular",)
    return {"prepare": (), "tabular": ("tabular",), "text": ("text",)}[stage]


def inspect(data: str | Path, overrides: SchemaOverrides | None = None) -> tuple[dict[str, Any], Schema]:
    """What `inspect` prints: roles, entities, missing values, cardinalities, row problems; and the schema."""
    from augment.describe import describe_table

    df, schema, _, rows = load_and_detect(data, overrides or SchemaOverrides())
    return describe_table(df, schema, rows, str(data)), schema


def fit(data: str | Path, out: str | Path, *, stage: str = "all", seed: int = 0,
        prepare_config: PrepareConfig | None = None, models: ModelConfig | None = None,
        world: World | None = None, announce: Callable[[Prepared], None] | None = None) -> Prepared:
    """Validate and split DATA into the run directory OUT, then fit the generators up to `stage`;
    returns the prepared run. Reruns resume: a stage whose inputs are unchanged is skipped.
    `announce` is called with the prepared data before any model is fit (`run` prints its plan)."""
    from augment.pipeline import fit_tabular, fit_text_stage

    models = models or ModelConfig()
    _check_init_from(models.init_from, stages_to_fit(stage))
    config = replace(prepare_config or PrepareConfig(), seed=seed)
    prepared = prepare(data, out, config, world, stages=stages_to_fit(stage))
    if announce:
        announce(prepared)
    for name in stages_to_fit(stage, prepared.schema):
        if name == "tabular":
            fit_tabular(prepared, seed, models.profile, models.epochs, models.init_from, world)
        else:
            fit_text_stage(prepared, seed, models.profile, models.text_steps, models.text_model, models.init_from,
                           world, models.text_prompt)
    return prepared


def _check_init_from(init_from: str | None, stages: tuple[str, ...]) -> None:
    if not init_from:
        return
    needed = {"tabular": f"{TABULAR_DIR}/generator.safetensors", "text": f"{TEXT_DIR}/adapter/template.json"}
    for stage in stages:
        RunDir(init_from).require(*needed[stage].split("/"), hint=f"--init-from needs a run with a fitted {stage} model")


def run(data: str | Path, out: str | Path, *, seed: int = 0, prepare_config: PrepareConfig | None = None,
        models: ModelConfig | None = None, synthesis: SynthesisConfig | None = None,
        device: str = "auto") -> dict[str, Any]:
    """The whole job: fit every stage, synthesize rows until `synthesis.rows` are admitted, write the
    fidelity report. Resumable. Returns the synthesis outcome and the paths written."""
    from augment.distributed import world
    from augment.pipeline import SynthesisConfig, report_run, synthesize
    from augment.plan import format_plan, stage_plan

    synthesis = synthesis or SynthesisConfig()
    models = models or ModelConfig()
    here = world(device)
    if here.size > 1:
        raise UserError("`run` is one process; under torchrun, launch `fit`, `sample` and `filter` instead")

    def announce(prepared: Prepared) -> None:
        tqdm.write(format_plan(stage_plan(prepared, synthesis, models.profile, models.epochs, models.text_steps)))

    prepared = fit(data, out, stage="all", seed=seed, prepare_config=prepare_config, models=models, world=here,
                   announce=announce)
    run_dir = prepared.run
    outcome = synthesize(prepared, synthesis, seed, here.device)
    report = report_run(prepared, seed)
    return {
        "run": run_dir.path, "augmented": run_dir.file("augmented.parquet"),
        "synthetic_all": run_dir.file("synthetic_all.parquet"), "manifest": run_dir.manifest_path,
        "report": report / "report.html" if report else None,
        "real_rows": len(prepared.split["train"]), "synthetic_rows": outcome["kept"],  # augmented.parquet's rows
        **outcome,
    }


def sample(run: str | Path, *, rows: int, out: str | Path, conditions: dict[str, str] | None = None,
           balance: str | None = None, seed: int = 0, with_text: bool = False, chunk_rows: int | None = None,
           guidance: float | None = None, world: World | None = None) -> dict:
    """Draw `rows` synthetic rows from a fitted run into OUT (any table format), chunk by chunk;
    resumable. With text, returns the text quality gates (also written to OUT.gates.json)."""
    from augment.distributed import World
    from augment.sample import sample_to_file

    if rows < 1:
        raise UserError(f"--rows {rows}: must be at least 1")
    table_format(Path(out))  # a bad extension fails before any work
    world = world or World()
    gates = sample_to_file(Prepared.load(run), rows, out, world, conditions, balance, seed, with_text,
                           chunk_rows=chunk_rows, guidance=guidance)
    if gates:
        write_json(Path(f"{out}.gates.json"), gates)
    return gates


def filter(run: str | Path, *, input: str | Path, out: str | Path, config: FilterConfig | None = None,
           seed: int = 0, keep_all: bool = False, chunk_rows: int | None = None, world: World | None = None) -> dict:
    """Score the rows of INPUT against a prepared run and write the admitted ones (every row with
    `keep_all`) to OUT; returns the acceptance summary."""
    from augment.distributed import World
    from augment.filter import FILTER_CHUNK_ROWS, FilterConfig, filter_file

    table_format(Path(out))
    world = world or World()
    return filter_file(input, out, Prepared.load(run), config or FilterConfig(), world, seed, keep_all,
                       chunk_rows or FILTER_CHUNK_ROWS)


def export(run: str | Path, out: str | Path, *, format: str = "parquet",
           features_only: bool = False) -> list[Path]:
    """Write OUT/{train,validation,test}/ (one file each), a dataset card and a manifest for other
    trainers; `features_only` leaves out the provenance columns. Returns the split files."""
    from augment.export import export_run

    table_format(Path(f"x.{format}"))
    return export_run(Prepared.load(run), out, format, features_only)


def evaluate(real: str | Path | pd.DataFrame, synthetic: str | Path | pd.DataFrame, *, out: str | Path | None = None,
             train: str | Path | pd.DataFrame | None = None, schema: Schema | str | Path | None = None,
             seed: int = 0) -> dict:
    """The fidelity report of `synthetic` against `real` (tables or paths): every number, as a dict;
    with `out`, also report.html, report.md and report.json there. `train`: the rows the generator
    saw, for the privacy checks. `schema`: a Schema or schema JSON path (default: detected)."""
    from augment.evaluate.report import measure, write_report
    from augment.schema import detect_schema

    real_rows, synthetic_rows = as_table(real, "the real table"), as_table(synthetic, "the synthetic table")
    train_rows = None if train is None else as_table(train, "the train table")
    if schema is None:
        schema = detect_schema(real_rows)
    elif not isinstance(schema, Schema):
        schema = Schema.load(schema)
    made = provenance({"real": real, "synthetic": synthetic, "train": train}) | {"seed": seed}
    results = measure(real_rows, synthetic_rows, schema, seed, train_rows, extra={"provenance": made})
    if out is not None:
        write_report(results, real_rows, synthetic_rows, schema, out)
    return results


def train(*, run: str | Path | None = None, data: str | Path | pd.DataFrame | None = None,
          synthetic: str | Path | pd.DataFrame | None = None, out: str | Path | None = None,
          experiment: ExperimentConfig | None = None, overrides: SchemaOverrides | None = None,
          with_fields: bool = False, synthetic_target: str | None = None, world: World | None = None) -> dict:
    """The downstream experiment: a rating learner on real rows only and on real + synthetic rows
    (and the controls), scored on the real test split. From a run directory (`run`: its split and
    admitted rows) or any table (`data`, split 70/15/15); `synthetic` replaces or supplies the
    synthetic rows. Writes results.json, results.csv and figures to `out` (a rerun resumes from its
    fits.jsonl); returns the summary rows with their verdicts."""
    from augment.distributed import World
    from augment.train.experiment import ExperimentConfig, run_experiment, summarize, to_dict
    from augment.train.outputs import write_results

    experiment = experiment or ExperimentConfig()
    world = world or World()
    rows = _learning_data(run, data, synthetic, overrides, with_fields, experiment.aux_target, synthetic_target)
    out = Path(out or (Path(run) / "report" / "train" if run is not None else "train-results"))
    results = run_experiment(rows, experiment, world=world, log_path=out / "fits.jsonl")
    if not world.is_main:
        return {}
    summary = summarize(results)
    inputs = {"run manifest": Path(run) / "manifest.json"} if run is not None else {"data": data}
    inputs["synthetic"] = synthetic
    write_results(results, summary, to_dict(experiment) | {"processes": world.size}, out, provenance(inputs))
    return {"out": out, "summary": summary}


def relabel(*, out: str | Path, run: str | Path | None = None, data: str | Path | pd.DataFrame | None = None,
            synthetic: str | Path | pd.DataFrame | None = None, experiment: ExperimentConfig | None = None,
            overrides: SchemaOverrides | None = None, with_fields: bool = False, seed: int = 0,
            world: World | None = None) -> pd.DataFrame:
    """The synthetic rows with what models of the real train rows read in their texts, for a user's own
    trainer: 5 learners (`experiment.learner`) fit on bootstrap resamples of the real train rows read
    every synthetic text (see augment/train/curation.py). Adds the columns reading (their mean),
    reading_spread, smoothed_target (the row's target moved halfway toward the reading), weight (how
    well the reading agrees with the target, for weighted sampling or a weighted loss) and curated
    (the ensemble reads the row near its target and agrees about it). The target and every other
    column stay as they were; a row the learners cannot read (no text, no target, or a text equal to a
    validation or test row's) gets no reading, weight 0 and curated False. Writes `out` atomically
    (.parquet, .csv or .jsonl) and returns the rows."""
    from augment.data import write_table
    from augment.distributed import World
    from augment.train.curation import read_synthetic
    from augment.train.experiment import ExperimentConfig, fit_learner

    experiment = experiment or ExperimentConfig()
    world = world or World()
    table_format(Path(out))  # an unknown extension is refused before any fit
    if synthetic is None and run is None:
        raise UserError("give the synthetic rows to read (--synthetic FILE)")
    rows = _learning_data(run, data, synthetic, overrides, with_fields, experiment.aux_target, None)
    if rows.synthetic.empty:
        raise UserError("none of the synthetic rows has both a text and a target to read")
    validation = rows.validation.sample(min(experiment.validation_rows, len(rows.validation)), random_state=0)
    readings = read_synthetic(lambda table, s: fit_learner(table, validation, experiment, s, world),
                              rows.train, rows.synthetic, validation, seed)
    columns = readings.columns(rows.synthetic["y"].to_numpy(float)).set_index(rows.synthetic.index)
    taken = [c for c in columns.columns if c in rows.synthetic_rows.columns]
    if taken:
        raise UserError(f"the synthetic rows already have a column named {', '.join(taken)}, which relabel adds; "
                        "rename it first")
    relabelled = rows.synthetic_rows.join(columns)
    relabelled = relabelled.fillna({"weight": 0.0}).astype({"curated": "boolean"}).fillna({"curated": False})
    if world.is_main:
        write_table(relabelled, out)
    return relabelled


def _learning_data(run, data, synthetic, overrides: SchemaOverrides | None, with_fields: bool,
                   aux_target: str | None, synthetic_target: str | None):
    """The learners' rows from a run directory or a table (see augment/train/data.py)."""
    from augment.train.data import data_from_run, data_from_table

    if (run is None) == (data is None):
        raise UserError("give either a run directory (--run) or a table (--data)")
    if run is not None:
        return data_from_run(run, with_fields, aux_target, synthetic, synthetic_target)
    return data_from_table(data, synthetic, overrides or SchemaOverrides(), with_fields, aux_target,
                           synthetic_target)
