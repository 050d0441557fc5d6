"""Benchmark: peak resident memory of the text LoRA stage, with glibc's default allocator settings and
with a fixed mmap threshold (large blocks come from mmap and go back to the system when freed).

PyTorch on CPU allocates and frees tensors of many sizes (batches of varying length); glibc raises
its mmap threshold after each large free, so later large tensors come from the heap, which
fragments and is rarely returned. Each variant runs `python -m augment fit womens-clothing --stage
text --text-steps N` in a fresh process; the stage's peak RSS (VmHWM) comes from the run's manifest.
Seconds are left out: memory does not depend on what else the machine runs, time does.

    python bench/memory.py --steps 20        # writes reports/memory/
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/x.py` from anywhere
from augment.runs import RunDir
from bench.reporting import write_report

VARIANTS = {
    "glibc defaults": {},
    "fixed mmap threshold (128 KiB)": {"MALLOC_MMAP_THRESHOLD_": "131072"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="LoRA steps per variant (default 20)")
    args = parser.parse_args()
    results = {}
    for name, extra in VARIANTS.items():
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "run"
            subprocess.run([sys.executable, "-m", "augment", "fit", "womens-clothing", "--out", str(out), "--stage",
                            "text", "--text-steps", str(args.steps)], check=True, env=os.environ | extra)
            stage = RunDir(out).manifest()["stages"]["text"]
            results[name] = {"env": extra, "peak_rss_mb": stage["peak_rss_mb"]}
        print(name, results[name], flush=True)
    summary = {"command": "python bench/memory.py " + " ".join(sys.argv[1:]), "steps": args.steps, "results": results}
    write_report("memory", summary, markdown(summary))


def markdown(summary: dict) -> str:
    lines = ["# Peak memory of the text LoRA stage, by allocator setting", "",
             (f"Command: `{summary['command']}`: {summary['steps']} LoRA steps on womens-clothing, each variant in a "
              "fresh process; peak resident memory (VmHWM) of the stage from the run's manifest."), "",
             "| allocator | peak RSS (MB) |", "| --- | ---: |"]
    lines += [f"| {name} | {r['peak_rss_mb']} |" for name, r in summary["results"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
