"""What the three command-line tools share: the error contract and `--config FILE` (TOML).

A user's mistake (UserError, or a path that cannot be read or written) prints one line on stderr
and exits with status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

from augment.errors import UserError

EXIT_USAGE = 2


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line with the program name, status 2; and `--version`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.add_help:
            from augment import __version__

            self.add_argument("--version", action="version", version=f"behavior-augment {__version__}",
                              help="print the version and exit")

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {one_line(message)} (see --help)\n")
        raise SystemExit(EXIT_USAGE)


def add_common(parser: argparse.ArgumentParser, seed: bool = True, config: bool = True) -> None:
    """`--seed` and `--config`, which every command takes."""
    if seed:
        parser.add_argument("--seed", type=seed_value, default=0, help="seed of every random choice (default 0)")
    if config:
        parser.add_argument(
            "--config",
            metavar="FILE",
            help="TOML file of defaults for these flags: top-level keys, or a table named after the command; "
            "each value is checked as the flag's would be, and flags on the command line win",
        )


def add_threads_flag(parser: argparse.ArgumentParser) -> None:
    """`--threads N` for the commands that compute."""
    parser.add_argument("--threads", type=positive_int, metavar="N", help="threads for torch and BLAS in each "
                        "process (default: the cores other processes leave free; or set AUGMENT_THREADS)")


def apply_config(parser: argparse.ArgumentParser, args: argparse.Namespace, section: str) -> argparse.Namespace:
    """Fill flags the user did not give from the TOML file, each value checked as its flag's would be."""
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
    actions = {action.dest: action for action in parser._actions if action.option_strings}
    for key, value in values.items():
        dest = key.replace("-", "_")
        action = actions.get(dest)
        if action is None or dest in ("config", "help", "version"):
            raise UserError(f"--config {path}: unknown setting '{key}' for '{section}'")
        if getattr(args, dest) == parser.get_default(dest):
            setattr(args, dest, _config_value(action, value, f"--config {path}: {key} = {value!r}"))
    return args


def settle(parser: argparse.ArgumentParser, args: argparse.Namespace, section: str) -> argparse.Namespace:
    """Parsed flags made final: `--config` values under `section` (checked by `parser`, the
    command's own), then, for a command that computes (it has --threads), the thread pools sized
    and freed memory returned to the system (see augment/memory.py)."""
    args = apply_config(parser, args, section)
    if hasattr(args, "threads"):
        settle_process(args.threads)
    return args


def settle_process(threads: int | None) -> bool:
    """What every computing command does before any torch work (benchmarks too, to measure the same):
    thread pools sized (`--threads`, else the free cores) and freed memory returned to the system.
    Returns whether glibc's mmap threshold is held (see augment/memory.py)."""
    from augment.memory import return_freed_memory
    from augment.threads import configure

    configure(threads)
    return return_freed_memory()


def _config_value(action: argparse.Action, value, where: str):
    """A TOML value converted and checked exactly as argparse would the flag's text."""
    if action.nargs == 0:  # a switch such as --json
        if not isinstance(value, bool):
            raise UserError(f"{where}: must be true or false")
        return value if action.const is True else not value
    listed = action.nargs in ("+", "*") or isinstance(action, argparse._AppendAction)
    if listed != isinstance(value, list):
        raise UserError(f"{where}: must be {'a list' if listed else 'a single value'}")
    items = value if listed else [value]
    converted = []
    for item in items:
        if isinstance(item, dict | list):
            raise UserError(f"{where}: {item!r} is not a single value")
        text = str(item).lower() if isinstance(item, bool) else str(item)
        try:
            one = action.type(text) if action.type else text
        except (argparse.ArgumentTypeError, ValueError, TypeError) as exc:
            raise UserError(f"{where}: {exc}") from None
        if action.choices is not None and one not in action.choices:
            raise UserError(f"{where}: use one of {', '.join(map(str, action.choices))}")
        converted.append(one)
    return converted if listed else converted[0]


def seed_value(text: str) -> int:
    """argparse type of a seed: a whole number from 0 to 2**32 - 1 (what numpy and torch accept)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: not a whole number") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{text}: must be from 0 to {2**32 - 1}")
    return value


def finite_float(text: str, allow_zero: bool = False) -> float:
    """argparse type of a finite number above 0 (ratios), or at least 0 with `allow_zero` (0: off)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: not a number") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise argparse.ArgumentTypeError(f"{text}: must be a finite number {'of 0 or more' if allow_zero else 'above 0'}")
    return value


def off_or_positive(text: str) -> float:
    return finite_float(text, allow_zero=True)


def positive_int(text: str) -> int:
    """argparse type of a count that must be at least 1 (rows, epochs, steps, seeds)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text}: not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be at least 1")
    return value


def one_line(text: str) -> str:
    """A message that stays one line whatever the user's values hold (newlines shown as \\n)."""
    return text.replace("\r", "\\r").replace("\n", "\\n")


def run_cli(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None = None) -> int:
    """Run a command's `main`: a UserError becomes one line on stderr and exit status 2."""
    # Our bars show the long work; Hugging Face's "Loading weights" bar at every model load only
    # clutters the terminal. Read once when transformers is first imported, so set before `main`.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        return main(argv)
    except UserError as exc:
        sys.stderr.write(f"error: {one_line(str(exc))}\n")
        return EXIT_USAGE
    except OSError as exc:
        if exc.filename is None:  # not about a path the user gave: a bug, keep its traceback
            raise
        sys.stderr.write(f"error: {exc.filename}: {exc.strerror or exc}; check the path and its permissions\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; rerun the same command to continue from the last finished stage\n")
        return 130
