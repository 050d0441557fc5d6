"""`python -m augment relabel`: synthetic rows with what models of the real rows read in their texts."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from augment.cli import Parser, add_common, run_cli, settle
from augment.train.flags import add_learner_flags, add_source_flags


def build_parser() -> Parser:
    parser = Parser(
        prog="python -m augment relabel",
        description="Fit 5 rating learners on bootstrap resamples of the real train rows, read every synthetic "
        "text with them and write the synthetic rows with five more columns, for your own trainer: reading (the "
        "learners' mean reading of the text), reading_spread (how much they disagree), smoothed_target (the row's "
        "target moved halfway toward the reading: label smoothing), weight (how well the reading agrees with the "
        "target, from 1 down to near 0: for weighted sampling or a weighted loss) and curated (read near its "
        "target, with less than the median disagreement: a row to keep). The target and every other column stay as "
        "they were. `python -m augment train --arms smoothed reweighted curated` measures what each does.",
    )
    add_source_flags(parser, "the synthetic rows to read (with --run, default: the run's admitted rows)")
    parser.add_argument("--out", required=True, metavar="FILE", help="the rows with the added columns (.parquet, .csv "
                        "or .jsonl), written atomically")
    add_learner_flags(parser)
    add_common(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from augment import jobs
    from augment.distributed import world as distributed_world
    from augment.schema import SchemaOverrides
    from augment.train.experiment import ExperimentConfig
    from augment.train.learners import FineTuneConfig

    parser = build_parser()
    args = settle(parser, parser.parse_args(argv), "relabel")
    experiment = ExperimentConfig(learner=args.learner, finetune=FineTuneConfig(encoder=args.encoder, epochs=args.epochs))
    rows = jobs.relabel(run=args.run, data=args.data, synthetic=args.synthetic, out=args.out, experiment=experiment,
                        overrides=SchemaOverrides.from_sources(target=args.target, roles=args.roles),
                        with_fields=args.with_fields, seed=args.seed, world=distributed_world(args.device))
    read = int(rows["reading"].notna().sum())
    print(f"{args.out}: {len(rows)} rows, {read} read, {int(rows['curated'].sum())} curated, "
          f"mean weight {rows['weight'].mean():.3f}")
    if read < len(rows):
        print(f"{len(rows) - read} row(s) without a reading: no text or target, or a text equal to a validation or "
              "test row's; their weight is 0")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
