"""The flags `train` and `relabel` share: where the rows come from and which learner reads them."""

from __future__ import annotations

from augment.cli import Parser, add_threads_flag, positive_int


def add_source_flags(parser: Parser, synthetic_help: str) -> None:
    """--run or --data, --synthetic, and the schema flags a table needs."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--run", metavar="RUN", help="a run directory: its split and augmented.parquet")
    source.add_argument("--data", metavar="FILE", help="any table with a text column and a target (split 70/15/15)")
    parser.add_argument("--synthetic", metavar="FILE", help=synthetic_help)
    parser.add_argument("--target", metavar="COLUMN", help="with --data: the target (default: detected)")
    parser.add_argument("--role", dest="roles", action="append", default=[], metavar="COL=ROLE",
                        help="with --data: set a column's role, e.g. 'review=text' (repeatable)")


def add_learner_flags(parser: Parser) -> None:
    """The learner and how it is fit, and where."""
    parser.add_argument("--learner", choices=["tfidf", "zero-shot", "finetune"], default="tfidf",
                        help="TF-IDF+ridge (default, fast), frozen MiniLM embeddings+ridge, or fine-tuned MiniLM")
    parser.add_argument("--encoder", default="minilm-l6", metavar="NAME", help="encoder: a local folder or hub id (default MiniLM)")
    parser.add_argument("--epochs", type=positive_int, default=3, help="fine-tuning epochs; the best validation epoch is kept")
    parser.add_argument("--with-fields", action="store_true", help="give the learner the tabular fields as text too")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="where fine-tuning runs: auto (a GPU when torch sees one, default), cpu, cuda; under "
                        "torchrun (`torchrun --nproc-per-node N -m augment -- train ...`) each process takes a share of "
                        "every batch")
    add_threads_flag(parser)
