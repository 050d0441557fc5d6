"""Benchmark: sampling and filtering at 10k, 100k and 1M rows, one process vs two under torchrun.

Rows per second and the peak resident memory of the largest process, for the tabular part of
womens-clothing (the text columns are dropped: writing a million reviews is not a CPU job), with
the GAN fit for a few epochs (speed, not quality, is measured here). Every figure is one run of
the real command line, `python -m augment sample|filter`, timed from outside; memory should stay
about flat as rows grow, because both commands work chunk by chunk.

    python bench/scale.py            # writes reports/scale/
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from augment.data import read_table, write_table
from augment.runs import package_versions

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/x.py` from anywhere
from bench.reporting import write_report

MEASURE = """
import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
seconds = time.perf_counter() - started
if code.returncode:
    sys.exit(code.stderr[-2000:])
print(seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measure(command: list[str], ranks: int) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of the largest process of `command`, launched on `ranks` processes."""
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks),
                "-m", "augment", "--"] if ranks > 1 else [sys.executable, "-m", "augment"]
    out = subprocess.run([sys.executable, "-c", MEASURE, *launcher, *command],
                         capture_output=True, text=True, check=True)
    seconds, kilobytes = out.stdout.split()
    return float(seconds), int(kilobytes) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--work", default="runs/bench-scale")
    args = parser.parse_args()

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    table = read_table("womens-clothing").drop(columns=["Title", "Review Text"])
    data = write_table(table, work / "behavior.parquet")
    run = work / "run"
    subprocess.run([sys.executable, "-m", "augment", "fit", str(data), "--out", str(run), "--stage", "tabular",
                    "--epochs", str(args.epochs), "--device", "cpu"], check=True, capture_output=True)

    results = []
    for rows in args.rows:
        for ranks in args.ranks:
            sampled = work / f"sample-{rows}-{ranks}.parquet"
            steps = {"sample": ["sample", "--run", str(run), "--rows", str(rows), "--out", str(sampled)],
                     "filter": ["filter", "--run", str(run), "--input", str(sampled),
                                "--out", str(work / f"filter-{rows}-{ranks}.parquet")]}
            for step, command in steps.items():  # in order: filtering reads what sampling wrote
                seconds, memory = measure([*command, "--device", "cpu"], ranks)
                results.append({"step": step, "rows": rows, "ranks": ranks, "seconds": round(seconds, 1),
                                "rows_per_second": round(rows / seconds), "peak_rss_mb": round(memory)})
                print(json.dumps(results[-1]), flush=True)
        for ranks in args.ranks[1:]:  # the sharded output equals one process's
            sharded = read_table(work / f"sample-{rows}-{ranks}.parquet")
            same = sharded.equals(read_table(work / f"sample-{rows}-1.parquet"))
            results.append({"step": "equal", "rows": rows, "ranks": ranks, "sample_equals_one_process": same})
    summary = {"command": "python bench/scale.py " + " ".join(sys.argv[1:]), "epochs": args.epochs,
               "results": results, "versions": package_versions()}
    write_report("scale", summary, markdown(summary))
    print(markdown(summary))


def markdown(summary: dict) -> str:
    timed = [r for r in summary["results"] if r["step"] != "equal"]
    equal = [r for r in summary["results"] if r["step"] == "equal"]
    one = {(r["step"], r["rows"]): r["seconds"] for r in timed if r["ranks"] == 1}
    lines = [
        "# Scale benchmark: sampling and filtering, 1 vs 2 processes (womens-clothing tabular columns, 2 CPU cores)",
        "",
        (f"Command: `{summary['command']}`. Each figure is one run of `python -m augment sample` or "
        "`python -m augment filter` (discriminator fit on the first 20,000 rows, the rest scored in chunks of "
        "20,000), launched plainly or with `torchrun --standalone --nproc-per-node 2`, timed from outside (process "
        "start and model loading included). Peak memory: the largest single process."),
        "",
        "| step | rows | processes | seconds | rows / s | speed-up vs 1 process | peak RSS (MB) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *[f"| {r['step']} | {r['rows']:,} | {r['ranks']} | {r['seconds']} | {r['rows_per_second']:,} | "
          f"{one[(r['step'], r['rows'])] / r['seconds']:.2f}x | {r['peak_rss_mb']:,} |" for r in timed],
        "",
        "Sharded sampling output identical to one process's: "
        + ", ".join(f"{r['rows']:,} rows, {r['ranks']} processes: {'yes' if r['sample_equals_one_process'] else 'NO'}"
                    for r in equal) + ".",
        "",
        ("Both processes share this machine's two cores, so the speed-up here is bounded by the cores, not by the "
        "sharding; at 10k rows process start-up dominates."),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
