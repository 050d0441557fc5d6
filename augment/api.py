"""The Python API: the suite on a DataFrame, from a notebook, in four verbs.

    from augment import Augmenter
    augmenter = Augmenter(profile="quick", seed=0).fit(df)      # the GAN, and the text LM if df has text
    rows = augmenter.sample(500, conditions={"Rating": "1"})  # a DataFrame of synthetic rows
    admitted = augmenter.filter(rows)                         # the realistic ones, with their scores
    augmenter.save("my-augmenter"); Augmenter.load("my-augmenter")

Behind it is an ordinary run directory (the one `python -m augment fit` writes), so everything the
command line does with a run (export, train, evaluate) works on a saved Augmenter too.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from augment import jobs
from augment.data import write_table
from augment.errors import UserError
from augment.memory import return_freed_memory
from augment.prepared import PrepareConfig, Prepared
from augment.rows import as_input_types
from augment.runs import RunDir, file_hash, write_json
from augment.schema import Schema

INPUT = "input.parquet"  # the fitted table, kept inside the run directory so a saved Augmenter is whole


class Augmenter:
    """Learn a table of user behavior and synthesize more of it.

    schema: a `Schema`, a schema dict or a schema JSON path, full or partial (None: detected).
    profile: "quick" (default) or "full" training budgets; epochs / text_steps override them.
    seed: every random choice (split, models, samples) flows from it.
    text: also fit the LM review writer when the table has text columns (slow on a CPU).
    text_prompt: "fields" (default) or "chat": how the LM is asked for a row's text (`--text-prompt`).
    workdir: where the run directory lives (default: a new temporary folder; `save` copies it).
    device: "auto", "cpu" or "cuda"."""

    def __init__(self, schema: Schema | dict | str | Path | None = None, profile: str = "quick", seed: int = 0,
                 text: bool = True, workdir: str | Path | None = None, epochs: int | None = None,
                 text_steps: int | None = None, device: str = "auto", text_prompt: str | None = None):
        self.schema, self.seed, self.text, self.device = schema, seed, text, device
        return_freed_memory()  # as the command line does: the LM's freed tensors go back to the system
        self.models = jobs.ModelConfig(profile=profile, epochs=epochs, text_steps=text_steps, text_prompt=text_prompt)
        self.workdir = Path(workdir) if workdir else None
        self._prepared: Prepared | None = None

    # -- fit ------------------------------------------------------------------------------------

    def fit(self, df: pd.DataFrame) -> Augmenter:
        """Split `df` 70/15/15, fit the preprocessing and the generators on its train rows."""
        if not isinstance(df, pd.DataFrame):
            raise UserError(f"fit takes a pandas DataFrame, got {type(df).__name__}")
        self.workdir = self.workdir or Path(tempfile.mkdtemp(prefix="augmenter-"))
        data = write_table(df.reset_index(drop=True), self.workdir / INPUT)
        config = PrepareConfig(schema_file=self._schema_file())
        self._prepared = jobs.fit(data, self.workdir / "run", stage="all" if self.text else "tabular", seed=self.seed,
                                  prepare_config=config, models=self.models, world=self._world())
        return self

    def _schema_file(self) -> str | None:
        if self.schema is None or isinstance(self.schema, str | Path):
            return None if self.schema is None else str(self.schema)
        data = self.schema.to_dict() if isinstance(self.schema, Schema) else self.schema
        write_json(self.workdir / "declared-schema.json", data)
        return str(self.workdir / "declared-schema.json")

    def _world(self):
        from augment.distributed import world

        return world(self.device)

    @property
    def prepared(self) -> Prepared:
        if self._prepared is None:
            raise UserError("this Augmenter is not fitted: call .fit(df) or Augmenter.load(path) first")
        return self._prepared

    @property
    def schema_(self) -> Schema:
        """The schema in use (detected and declared)."""
        return self.prepared.schema

    # -- sample and filter ----------------------------------------------------------------------

    def sample(self, n: int, conditions: dict[str, Any] | None = None, balance: str | None = None,
               with_text: bool | None = None, seed: int | None = None) -> pd.DataFrame:
        """`n` synthetic rows; `conditions` fixes columns ({"Rating": 1}), `balance` draws a column's
        levels uniformly; text is written when the text model was fit (unless with_text=False)."""
        from augment.sample import RunSampler

        if n < 1:
            raise UserError(f"sample: n = {n}, must be at least 1")
        fitted = "text" in self.prepared.run.manifest()["stages"]
        if with_text and not fitted:
            raise UserError("sample(with_text=True): no text model was fit (Augmenter(text=True) and a text column)")
        sampler = RunSampler(self.prepared, fitted if with_text is None else with_text, device=self._world().device)
        conditions = {name: str(value) for name, value in (conditions or {}).items()}
        sampler.gan.check_conditions(conditions, balance)
        rows = sampler.rows(n, self.seed if seed is None else seed, conditions or None, balance)
        return as_input_types(rows, self.prepared.schema)

    def filter(self, rows: pd.DataFrame, mode: str = "drs", keep_all: bool = False) -> pd.DataFrame:
        """The rows the quality filter admits (every row with `keep_all`), with their scores and reject
        reason. mode: drs (default), rejection, threshold, top or none (see augment/filter.py)."""
        from augment.filter import FilterConfig, filter_rows

        prepared = self.prepared
        missing = [c for c in prepared.schema.names if c not in rows.columns]
        if set(missing) - set(prepared.schema.text_columns):
            raise UserError(f"filter: the rows lack the table's columns {', '.join(missing)}")
        rows = rows.assign(**{name: None for name in missing})  # rows sampled without text: judged without it
        scored, _ = filter_rows(rows.reset_index(drop=True), prepared.rows("train"), prepared.rows("validation"),
                                prepared.schema, prepared.preprocessor, FilterConfig(mode=mode), self.seed)
        return scored if keep_all else scored[scored["admitted"]]

    # -- save and load --------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Copy the fitted run (models, split, the table it was fit on) to `path`, a new folder."""
        path = Path(path)
        if path.exists():
            raise UserError(f"{path}: exists; save into a new folder")
        self.prepared  # noqa: B018 - raises when not fitted
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent if path.parent.exists() else None))
        shutil.copytree(self.workdir, staging, dirs_exist_ok=True)
        _point_at_input(RunDir(staging / "run"), staging / INPUT, path / INPUT)
        shutil.move(staging, path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> Augmenter:
        """An Augmenter saved with `save`."""
        path = Path(path)
        if not (path / "run" / "manifest.json").is_file():
            raise UserError(f"{path}: not a saved Augmenter (no run/manifest.json)")
        if (path / INPUT).is_file():  # a saved folder may have been moved or copied since
            _point_at_input(RunDir(path / "run"), path / INPUT, path / INPUT)
        manifest = RunDir(path / "run").manifest()
        augmenter = cls(seed=manifest["stages"]["prepare"]["config"]["seed"], workdir=path, device=device,
                        text="text" in manifest["stages"])
        augmenter._prepared = Prepared.load(path / "run")
        return augmenter


def _point_at_input(run: RunDir, copied: Path, final: Path) -> None:
    """The run's manifest names the copy of the input it will find at `final` (same bytes)."""
    manifest = run.manifest()
    if manifest["data"]["sha256"] != file_hash(copied):
        raise UserError(f"{copied}: differs from the table the run was fit on")
    manifest["data"]["path"] = str(final.resolve())
    write_json(run.manifest_path, manifest)
