"""`python -m augment evaluate`: the fidelity report of a synthetic table against a real one."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from augment.cli import Parser, add_common, add_threads_flag, run_cli, settle


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
    add_threads_flag(parser)
    add_common(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from augment import jobs

    parser = build_parser()
    args = settle(parser, parser.parse_args(argv), "evaluate")
    jobs.evaluate(args.real, args.synthetic, out=args.out, train=args.train, schema=args.schema, seed=args.seed)
    print(f"report: {Path(args.out) / 'report.html'} (also report.json, report.md)")
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
