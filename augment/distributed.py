"""Several processes, one job: torch.distributed under `torchrun`, and the device each process uses.

Launched plainly, a command is one process of rank 0 in a world of 1 and nothing here does any
communication, so single-process use needs no setup. Launched by `torchrun --nproc-per-node N`
(or across machines with `--nnodes`), every process reads its rank from the environment torchrun
sets and joins one process group: `gloo` on CPU, `nccl` on GPUs.

Work that is split (sampling, writing text, filtering) is split into numbered chunks whose
randomness depends on the seed and the chunk number only; rank r does the chunks r, r + N, ...
and writes each as its own part file, and rank 0 merges the parts in chunk order. So the output
of N processes equals the output of one process with the same seed and chunk size.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

from augment.errors import UserError
from augment.runs import read_json, remove_stale_temporaries, write_json

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class World:
    """This process's place among the processes of a job (torchrun), and its device."""
    rank: int = 0
    size: int = 1
    device: torch.device = torch.device("cpu")  # noqa: RUF009 - immutable, safe to share

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def chunks(self, count: int) -> range:
        """The chunk numbers out of `count` that this process does."""
        return range(self.rank, count, self.size)

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def broadcast(self, value):
        """Rank 0's `value`, on every rank."""
        if self.size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def gather(self, value) -> list:
        """Every rank's `value`, in rank order, on every rank."""
        if self.size == 1:
            return [value]
        values = [None] * self.size
        dist.all_gather_object(values, value)
        return values

    def average_gradients(self, module: torch.nn.Module) -> None:
        """Mean of every rank's gradients, as DistributedDataParallel's all-reduce computes it.

        Done by hand for the GAN: DDP's reducer does not support the double backward of the
        gradient penalty."""
        if self.size == 1:
            return
        for parameter in module.parameters():
            if parameter.grad is not None:
                dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
                parameter.grad /= self.size


def resolve_device(name: str = "auto") -> torch.device:
    """`auto`, `cpu` or `cuda` as a torch device; a UserError for cuda without a GPU."""
    if name not in DEVICES:
        raise UserError(f"--device {name}: use one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is visible to torch here; use --device cpu or auto")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


_WORLD: World | None = None


def world(device: str = "auto") -> World:
    """This process's place in the job; joins torchrun's process group on first use."""
    global _WORLD
    if _WORLD is not None:
        return _WORLD
    size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    chosen = resolve_device(device)
    if chosen.type == "cuda":
        chosen = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")) % torch.cuda.device_count())
        torch.cuda.set_device(chosen)
    if size > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if chosen.type == "cuda" else "gloo")
    _WORLD = World(rank, size, chosen)
    return _WORLD


def chunk_seed(seed: int, chunk: int) -> int:
    """A seed for one chunk of work: depends on the run's seed and the chunk number only."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])


def write_sharded(world: World, chunks: Iterable, work: Callable[[int, object], tuple[pd.DataFrame, dict]],
                  out: Path, key: str) -> list[dict]:
    """Run `work(number, chunk)` on this rank's share of `chunks`, then merge every part into `out`.

    Each finished chunk is a part file (and a JSON of its counts) under OUT.parts/, written
    atomically, so a killed job resumes where it stopped; parts of other inputs (another `key`) are
    cleared first. Rank 0 merges the parts in chunk order and returns every chunk's counts."""
    from augment.data import merge_tables, write_table

    parts = out.parent / f"{out.name}.parts"
    if world.is_main:
        remove_stale_temporaries(out.parent, recursive=False)  # a killed merge's leftovers
        remove_stale_temporaries(parts)
        stamp = parts / "inputs.json"
        if stamp.is_file() and read_json(stamp) != {"key": key}:
            shutil.rmtree(parts)
        write_json(stamp, {"key": key})
    world.barrier()
    count = 0
    try:
        for number, chunk in enumerate(chunks):
            count = number + 1
            table, info = parts / f"part-{number:05d}.parquet", parts / f"part-{number:05d}.json"
            if number % world.size != world.rank or info.is_file():
                continue
            rows, counts = work(number, chunk)
            write_table(rows, table)
            write_json(info, counts)  # last: a part counts as done once its counts are written
    except UserError:
        # Bad input: a rerun would fail the same way, so nothing is kept. Any other failure (a kill,
        # a full disk, a bug) keeps the finished parts for the rerun to resume from.
        shutil.rmtree(parts, ignore_errors=True)
        raise
    world.barrier()
    infos = []
    if world.is_main:
        merge_tables([parts / f"part-{n:05d}.parquet" for n in range(count)], out)
        infos = [read_json(parts / f"part-{n:05d}.json") for n in range(count)]
        shutil.rmtree(parts)
    world.barrier()
    return infos
