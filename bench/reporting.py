"""Where a benchmark writes, and what it records about how its figures were made.

Every benchmark writes one folder, reports/NAME/: README.md (the figures, for a reader) and
results.json (every number, with a `provenance` block: the command, the commit, the date, the
package versions, the machine's cores and CPU capability and the inputs with their sha256). `write_report` also
regenerates reports/README.md, the index, so the index never lists a folder that is not there.

    python bench/reporting.py     # rebuild the index from the folders alone
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from augment.runs import provenance as run_provenance
from augment.runs import read_json, write_json, write_text

REPORTS = Path(__file__).resolve().parents[1] / "reports"
ROOT = REPORTS.parent


def report_folder(name: str) -> Path:
    return REPORTS / name


def provenance(inputs: dict[str, str | Path] | None = None) -> dict:
    """`augment.runs.provenance`, with the command as a line, the commit, the machine's cores and the
    CPU capability torch uses (AVX2, AVX512, ...: whether bfloat16 is fast there, see bench/precision.py)."""
    import torch

    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                           cwd=ROOT, check=False)
    script = Path(sys.argv[0]).resolve()
    return run_provenance(inputs) | {
        "command": "python " + " ".join([script.relative_to(ROOT).as_posix() if script.is_relative_to(ROOT)
                                         else sys.argv[0], *sys.argv[1:]]),
        "commit": (commit.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")) or None,
        "cores": len(os.sched_getaffinity(0)),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def write_report(name: str, results: dict, markdown: str, inputs: dict[str, str | Path] | None = None,
                 headline: str | None = None, record: dict | None = None) -> Path:
    """reports/NAME/results.json (with provenance) and README.md; then the index. Returns the folder.
    `record`: the provenance of saved results being rendered again (default: this process's)."""
    folder = report_folder(name)
    record = record or provenance(inputs)
    write_json(folder / "results.json", {"headline": headline, **results, "provenance": record})
    machine = f"{record['cores']} cores" + (f", {record['cpu_capability']}" if record.get("cpu_capability") else "")
    header = (f"Made by `{record['command']}` at commit {record['commit'] or 'unknown'} on {record['date']} "
              f"({machine}).\n\n")
    body = markdown.split("\n", 1)
    write_text(folder / "README.md", body[0] + "\n\n" + header + (body[1].lstrip("\n") if len(body) > 1 else ""))
    write_index()
    return folder


def write_index() -> Path:
    """reports/README.md: one row per report folder, from its results.json."""
    rows = []
    for folder in sorted(p for p in REPORTS.iterdir() if p.is_dir()):
        results = folder / "results.json"
        data = read_json(results) if results.is_file() else {}
        made = data.get("provenance") or {}
        readme = folder / "README.md"
        title = readme.read_text(encoding="utf-8").splitlines()[0].lstrip("# ") if readme.is_file() else ""
        rows.append(f"| [{folder.name}]({folder.name}/README.md) | {data.get('headline') or title} | "
                    f"`{made.get('command', data.get('command', 'not recorded'))}` | "
                    f"{made['date'][:10] if made.get('date') else 'not recorded'} | {(made.get('commit') or 'not recorded')[:12]} |")
    text = ("# Reports\n\nWhat the benchmarks in `bench/` wrote, one folder each; `make bench` runs them and "
            "rebuilds this index, except those that read a full-profile run (discriminator_features, downstream*, "
            "experiments), which `make bench-full` runs (a day or more on 2 cores). Each folder's results.json "
            "records the command, commit, date, package versions and inputs; `not recorded` marks a report "
            "`make bench-full` has not yet rewritten.\n\n"
            "| report | what it measures | command | date | commit |\n| --- | --- | --- | --- | --- |\n"
            + "\n".join(rows) + "\n")
    write_text(REPORTS / "README.md", text)
    return REPORTS / "README.md"


if __name__ == "__main__":
    print(write_index())
