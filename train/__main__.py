"""`python -m train`: the downstream experiment, real-only vs augmented. Not built yet (issue 8)."""

from __future__ import annotations

import sys
from typing import Sequence

from augment.cli import Parser, add_common, apply_config, run_cli


def build_parser() -> Parser:
    parser = Parser(
        prog="python -m train",
        description="Fine-tune a rating regressor on real-only and on augmented training data and measure "
        "the gain on the real test split, over several seeds.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", metavar="RUN", help="a run directory: uses its split and augmented data")
    source.add_argument("--data", metavar="FILE", help="any table with a text column and a target")
    parser.add_argument("--out", metavar="DIR", help="where results go (default: RUN/report)")
    add_common(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    apply_config(parser, parser.parse_args(argv), "train")
    sys.stderr.write("error: the downstream experiment is not built yet in this version\n")
    return 1


if __name__ == "__main__":
    sys.exit(run_cli(main))
