"""What the three command-line tools share: the error contract and `--config FILE` (TOML).

A user's mistake (UserError, or a path that cannot be read or written) prints one line on stderr
and exits with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

from augment.errors import UserError

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line with the program name, status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see --help)\n")
        raise SystemExit(EXIT_USAGE)


def add_common(parser: argparse.ArgumentParser, seed: bool = True, config: bool = True) -> None:
    if seed:
        parser.add_argument("--seed", type=int, default=0, help="seed of every random choice (default 0)")
    if config:
        parser.add_argument(
            "--config",
            metavar="FILE",
            help="TOML file of defaults for these flags: top-level keys, or a table named after the command",
        )


def apply_config(parser: argparse.ArgumentParser, args: argparse.Namespace, section: str) -> argparse.Namespace:
    """Fill flags the user did not give from the TOML file; flags on the command line win."""
    if not getattr(args, "config", None):
        return args
    path = Path(args.config)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"--config {path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"--config {path}: not valid TOML ({exc})") from None
    values = {k: v for k, v in data.items() if not isinstance(v, dict)}
    values.update(data.get(section, {}))
    for key, value in values.items():
        dest = key.replace("-", "_")
        if dest not in vars(args) or dest in ("config", "command"):
            raise UserError(f"--config {path}: unknown setting '{key}' for '{section}'")
        if getattr(args, dest) == parser.get_default(dest):
            setattr(args, dest, value)
    return args


def positive_int(text: str) -> int:
    """argparse type of a count that must be at least 1 (rows, epochs, steps, seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return value


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    # Our bars show the long work; Hugging Face's "Loading weights" bar at every model load only
    # clutters the terminal. Read once when transformers is first imported, so set before `main`.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        return main(argv)
    except UserError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    except OSError as exc:
        if exc.filename is None:  # not about a path the user gave: a bug, keep its traceback
            raise
        sys.stderr.write(f"error: {exc.filename}: {exc.strerror or exc}; check the path and its permissions\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; rerun the same command to continue from the last finished stage\n")
        return 130
