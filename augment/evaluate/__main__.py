"""`python -m augment evaluate`: the fidelity report of a synthetic table against a real one."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from augment.cli import Parser, add_common, apply_config, run_cli


def build_parser() -> Parser:
    parser = Parser(
        prog="python -m augment evaluate",
        description="Compare a synthetic table with a real one and write report.html, report.json, report.md.",
    )
    parser.add_argument("--real", required=True, metavar="FILE", help="the real table (CSV, Parquet, JSONL)")
    parser.add_argument("--synthetic", required=True, metavar="FILE", help="the synthetic table, same columns")
    parser.add_argument("--out", required=True, metavar="DIR", help="report folder")
    parser.add_argument("--schema", metavar="FILE", help="schema JSON (default: detected from the real table)")
    parser.add_argument("--train", metavar="FILE", help="the rows the generator was fit on, for the privacy "
                        "checks (default: half of --real stands in for them)")
    add_common(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from augment.data import read_table
    from augment.evaluate.report import measure, write_report
    from augment.schema import Schema, detect_schema

    parser = build_parser()
    args = apply_config(parser, parser.parse_args(argv), "evaluate")
    real, synthetic = read_table(args.real), read_table(args.synthetic)
    train = read_table(args.train) if args.train else None
    schema = Schema.load(args.schema) if args.schema else detect_schema(real)
    results = measure(real, synthetic, schema, args.seed, train)
    out = write_report(results, real, synthetic, schema, args.out)
    print(f"report: {out / 'report.html'} (also report.json, report.md)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
