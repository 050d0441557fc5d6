"""`python -m evaluate`: the fidelity report of a synthetic table. Not built yet (issue 6)."""

from __future__ import annotations

import sys
from typing import Sequence

from augment.cli import Parser, add_common, apply_config, run_cli


def build_parser() -> Parser:
    parser = Parser(
        prog="python -m evaluate",
        description="Compare a synthetic table with a real one and write report.html, report.json, report.md.",
    )
    parser.add_argument("--real", required=True, metavar="FILE", help="the real table (CSV, Parquet, JSONL)")
    parser.add_argument("--synthetic", required=True, metavar="FILE", help="the synthetic table, same columns")
    parser.add_argument("--out", required=True, metavar="DIR", help="report folder")
    parser.add_argument("--schema", metavar="FILE", help="schema JSON (default: detected from the real table)")
    add_common(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    apply_config(parser, parser.parse_args(argv), "evaluate")
    sys.stderr.write("error: the fidelity report is not built yet in this version\n")
    return 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
