"""Threads that fit the machine: the tabular GAN's seconds per epoch on an idle machine and on one
where another process keeps a core busy, with the thread pools sized to the free cores (the
default) and with one thread per core (torch's own default, `--threads` = all cores).

Each figure is one `python -m augment fit womens-clothing --stage tabular` (the GAN models the tabular columns)
timed by the GAN's per-epoch record (validation scoring included); the busy core is a Python loop in another process.
Writes reports/threads/.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/x.py` from anywhere
from augment.threads import available_cores
from bench.reporting import write_report

SPIN = "while True: pass"


def seconds_per_epoch(work: Path, epochs: int, threads: int | None, busy: bool, seed: int) -> float:
    """Median seconds of the GAN's epochs after the first, in a fresh run directory."""
    run = Path(tempfile.mkdtemp(dir=work))
    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
    try:
        command = [sys.executable, "-m", "augment", "fit", "womens-clothing", "--out", str(run), "--stage", "tabular",
                   "--epochs", str(epochs), "--seed", str(seed), "--device", "cpu", *(["--threads", str(threads)] if threads else [])]
        subprocess.run(command, check=True, capture_output=True)
    finally:
        if spinner:
            spinner.kill()
    history = json.loads((run / "models" / "tabular" / "config.json").read_text())["history"]
    times = [b["seconds"] - a["seconds"] for a, b in itertools.pairwise(history)]
    return round(statistics.median(times), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=6, help="GAN epochs per measurement")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cores = available_cores()
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for name, threads, busy in (("idle, threads sized to free cores (default)", None, False),
                                    (f"idle, {cores} threads", cores, False),
                                    ("one core busy, threads sized to free cores (default)", None, True),
                                    (f"one core busy, {cores} threads (torch's default)", cores, True)):
            results[name] = seconds_per_epoch(Path(work), args.epochs, threads, busy, args.seed)
            print(name, results[name], flush=True)
    busy_default = results["one core busy, threads sized to free cores (default)"]
    busy_all = results[f"one core busy, {cores} threads (torch's default)"]
    lines = ["# Threads that fit the machine (tabular GAN, womens-clothing)", "",
             f"Median seconds per GAN epoch, {cores} cores, {args.epochs} epochs a run.", "",
             "| machine, threads | seconds per epoch |", "| --- | ---: |"]
    lines += [f"| {name} | {value:.3f} |" for name, value in results.items()]
    lines += ["", (f"With one core busy, sizing the pools to the free cores is **{busy_all / busy_default:.1f}x** "
                   "faster than one thread per core.")]
    write_report("threads", {"cores": cores, "epochs": args.epochs, "seconds_per_epoch": results,
                             "busy_speedup": round(busy_all / busy_default, 2)}, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
