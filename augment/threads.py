"""How many threads the numeric libraries use: the cores that are free, not all of them.

torch, OpenMP and BLAS each start one thread per core by default. When another process keeps a
core busy, those threads wait on each other and a torch stage runs many times slower than on one
thread. `configure` sizes every pool to the cores free when the command starts (measured from
/proc/stat over a moment, shared out among torchrun's processes on this machine), or to what the
user asks with `--threads N` or AUGMENT_THREADS.

torch's sums round differently on another number of threads, so a run keeps the count it was
prepared with: `follow_run` sets it again for every later command on that run (resume, sample,
filter) unless the user chose one, so a resumed run writes what an uninterrupted one would.
"""

from __future__ import annotations

import os
import time

from augment.errors import UserError

SAMPLE_SECONDS = 0.5  # how long the idle share of the cores is measured: 0.1 s caught a passing spike,
# and a whole job then ran on one thread of an idle 2-core machine
_LIMITS = None  # threadpoolctl's limits, kept alive so they stay applied
_MEASURED = False  # True when `configure` sized the pools from the free cores, not from the user's choice


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def free_cores(seconds: float = SAMPLE_SECONDS) -> int:
    """Cores not kept busy by other processes, from the machine's idle time over `seconds`
    (all the cores where /proc/stat cannot be read)."""
    cores = available_cores()
    try:
        first = _cpu_times()
        time.sleep(seconds)
        second = _cpu_times()
    except OSError:
        return cores
    total = sum(second) - sum(first)
    idle = (second[3] + second[4]) - (first[3] + first[4])  # idle + iowait
    if total <= 0:
        return cores
    busy = (1 - idle / total) * (os.cpu_count() or cores)
    return max(1, min(cores, round(cores - busy + 0.3)))  # a core more than 70% busy counts as taken


def _cpu_times() -> list[int]:
    with open("/proc/stat", encoding="ascii") as handle:
        return [int(v) for v in handle.readline().split()[1:8]]


def configure(requested: int | None = None) -> int:
    """Size torch's and the BLAS/OpenMP pools; returns the threads each process uses.

    `requested` (the --threads flag) wins, then AUGMENT_THREADS, then the free cores shared among
    this machine's torchrun processes (LOCAL_WORLD_SIZE)."""
    global _MEASURED
    if requested is None and os.environ.get("AUGMENT_THREADS"):
        try:
            requested = int(os.environ["AUGMENT_THREADS"])
        except ValueError:
            raise UserError(f"AUGMENT_THREADS={os.environ['AUGMENT_THREADS']}: not a whole number") from None
    if requested is not None and requested < 1:
        raise UserError(f"--threads {requested}: must be at least 1")
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    threads = requested or max(1, free_cores() // processes)
    _MEASURED = requested is None
    _apply(threads)
    return threads


def follow_run(recorded: int | None) -> bool:
    """Compute with `recorded` threads (the run's, from its manifest) when `configure` measured the
    free cores, so the run's numbers do not depend on the load; the user's choice, or a notebook's
    own torch setting, stays otherwise. True when this changed the count."""
    import torch

    if not _MEASURED or recorded is None or recorded == torch.get_num_threads():
        return False
    _apply(recorded)
    return True


def _apply(threads: int) -> None:
    global _LIMITS
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    _LIMITS = threadpool_limits(limits=threads)
