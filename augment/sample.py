"""Rows from a fitted run: the GAN's rows, with text written for them, in seeded chunks.

A chunk's rows depend on the run, the seed and the chunk's number only. `RunSampler.rows` makes
the chunks one after another in memory; `sample_to_file` shares them out over torchrun's processes
and streams them to a file through part files; both give the same rows for the same seed.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from augment.distributed import World, chunk_seed, write_sharded
from augment.errors import UserError
from augment.prepared import Prepared
from augment.rows import as_input_types
from augment.runs import TABULAR_DIR, TEXT_DIR, value_hash
from augment.text.generate import GenerationConfig, resolve_precision

CHUNK_ROWS = 5000  # tabular rows per chunk
TEXT_CHUNK_ROWS = 500  # with text: a part file every couple of minutes on 2 CPU cores
MAX_COPY_RETRIES = 5  # rewrites of a text that copies a training text before the row is dropped


def generation_config(precision: str = "auto", guidance: float | None = None,
                      device: torch.device | str = "cpu") -> GenerationConfig:
    """How a run's sampler writes text on `device` (guidance None: the generator's default; precision
    "auto" made concrete). Part of the resume keys of sampled and synthesized rows, so rows written
    with other settings are never reused."""
    return GenerationConfig(precision=resolve_precision(precision, device),
                            **({} if guidance is None else {"guidance": guidance}))


class RunSampler:
    """A run's fitted generators, loaded once, writing chunks of rows."""

    def __init__(self, prepared: Prepared, with_text: bool = False, precision: str = "auto",
                 device: torch.device | str = "cpu", chunk_rows: int | None = None, guidance: float | None = None):
        from augment.tabular.synthesizer import TabularGAN

        run = prepared.run
        fitted = run.manifest()["stages"]
        for stage in ("tabular", "text")[: 2 if with_text else 1]:
            if stage not in fitted:  # a re-prepared run forgets its models: they were fit on other data
                raise UserError(f"{run.path}: has no fitted {stage} model; fit it with `python -m augment fit DATA "
                                f"--out {run.path} --stage {stage}`")
        tabular = run.require(TABULAR_DIR, "config.json", hint="fit the tabular stage again").parent
        self.gan = TabularGAN.load(tabular, device)
        self.with_text, self.text_model = with_text, None
        self.generation = generation_config(precision, guidance, device)
        self.chunk_rows = chunk_rows or (TEXT_CHUNK_ROWS if with_text else CHUNK_ROWS)
        if self.chunk_rows < 1:
            raise UserError(f"--chunk-rows {self.chunk_rows}: must be at least 1")
        if with_text:
            from augment.text.gates import CopyIndex, joined_text
            from augment.text.generate import TextModel

            adapter = run.require(TEXT_DIR, "adapter", "template.json", hint="fit the text stage again").parent
            self.text_model = TextModel.load(adapter, self.generation.precision, device)
            self.schema = prepared.schema
            self.train, self.validation = prepared.rows("train"), prepared.rows("validation")
            self.copies = CopyIndex(joined_text(self.train, self.schema.text_columns))

    def chunk_sizes(self, n: int) -> list[int]:
        if n < 1:
            raise UserError(f"--rows {n}: must be at least 1")
        return [min(self.chunk_rows, n - start) for start in range(0, n, self.chunk_rows)]

    def chunk(self, size: int, seed: int, conditions: dict | None = None, balance: str | None = None,
              progress: bool = True) -> pd.DataFrame:
        """`size` GAN rows with their text; rows whose text stays an exact copy of a training text
        after MAX_COPY_RETRIES rewrites are dropped."""
        rows = self.gan.sample(size, conditions, balance, seed)
        if not self.with_text:
            return rows
        from augment.text.generate import generate_text

        rows, _ = generate_text(self.text_model, rows, self.generation, seed, progress)
        copied = self._exact_copies(rows)
        for attempt in range(1, MAX_COPY_RETRIES + 1):  # rewrite copies with fresh draws
            if not copied.any():
                break
            rewritten, _ = generate_text(self.text_model, rows[copied], self.generation, seed + attempt,
                                         progress=False)
            rows.loc[copied] = rewritten
            copied = self._exact_copies(rows)
        return rows[~copied].reset_index(drop=True)

    def _exact_copies(self, rows: pd.DataFrame) -> pd.Series:
        from augment.text.gates import joined_text

        texts = joined_text(rows, self.schema.text_columns)
        return pd.Series([self.copies.is_exact_copy(t) for t in texts], index=rows.index, dtype=bool)

    def rows(self, n: int, seed: int, conditions: dict | None = None, balance: str | None = None) -> pd.DataFrame:
        """`n` rows (fewer by any dropped copies), made chunk after chunk in memory."""
        parts = [self.chunk(size, chunk_seed(seed, number), conditions, balance)
                 for number, size in enumerate(self.chunk_sizes(n))]
        return pd.concat(parts, ignore_index=True)

    def gates(self, rows: pd.DataFrame, dropped: int) -> dict:
        """The text quality gates over all rows written (empty without text)."""
        if not self.with_text:
            return {}
        from augment.text.gates import text_gates

        _, summary = text_gates(rows, self.train, self.validation, self.schema.text_columns, self.schema.target)
        summary["rows_dropped_as_exact_copies"] = dropped
        return summary


def sample_to_file(prepared: Prepared, n: int, out: str | Path, world: World, conditions: dict | None = None,
                   balance: str | None = None, seed: int = 0, with_text: bool = False,
                   precision: str = "auto", chunk_rows: int | None = None, guidance: float | None = None) -> dict:
    """The rows `RunSampler.rows` makes, written to `out` chunk by chunk by every rank; resumable.

    Memory stays that of one chunk however large `n` is (the text gates, with text, read the
    text column of the merged file). Returns the gates on rank 0 ({} elsewhere)."""
    from augment.data import read_table

    out = Path(out)
    prepared.run.refuse_own(out)
    sampler = RunSampler(prepared, with_text, precision, world.device, chunk_rows, guidance)
    sizes = sampler.chunk_sizes(n)
    sampler.gan.check_conditions(conditions or {}, balance)  # before the bar and the part files
    key = value_hash({"run": prepared.run.manifest().get("stages"), "n": n, "seed": seed, "conditions": conditions,
                      "balance": balance, "with_text": with_text, "chunk_rows": sampler.chunk_rows,
                      "generation": asdict(sampler.generation) if with_text else None})  # holds the precision
    bar = tqdm(total=len(world.chunks(len(sizes))), desc=f"sampling, rank {world.rank}", unit="chunk")

    def work(number: int, size: int) -> tuple[pd.DataFrame, dict]:
        rows = sampler.chunk(size, chunk_seed(seed, number), conditions, balance, progress=False)
        bar.update()
        return as_input_types(rows, prepared.schema), {"asked": size, "written": len(rows)}

    counts = write_sharded(world, sizes, work, out, key)
    bar.close()
    if not world.is_main or not with_text:
        return {}
    written = read_table(out)
    return sampler.gates(written, sum(c["asked"] - c["written"] for c in counts))
