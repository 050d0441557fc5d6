"""Learning tables for the experiment: a `text` column (the row's text, optionally with its fields),
the target `y`, and an optional binary `aux` target. Rows without text or target are left out."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from augment.data import as_table, read_table
from augment.errors import UserError
from augment.prepared import Prepared
from augment.rows import clean_rows
from augment.schema import Schema, SchemaOverrides, detect_schema
from augment.split import split_rows
from augment.text.prompts import PromptTemplate
from augment.train.experiment import Data


def row_texts(df: pd.DataFrame, schema: Schema) -> pd.Series:
    """Each row's text columns joined, as the learners read them."""
    return df[schema.text_columns].apply(
        lambda row: ". ".join(str(v) for v in row if isinstance(v, str) and v.strip()), axis=1)


def learning_table(df: pd.DataFrame, schema: Schema, with_fields: bool, aux_target: str | None) -> pd.DataFrame:
    """The learner's rows: the text (with the fields in front when `with_fields`), the target `y`
    and an optional auxiliary target.
    """
    text = row_texts(df, schema)
    if with_fields:
        fields = PromptTemplate.from_schema(schema).fields
        text = df[fields].apply(lambda row: PromptTemplate(fields, ["text"]).prompt(row)[: -len("\ntext:")],
                                axis=1) + ". " + text
    y = pd.to_numeric(df[schema.target], errors="coerce")
    out = pd.DataFrame({"text": text, "y": y.where(np.isfinite(y))}, index=df.index)  # inf is no rating
    if aux_target:
        if aux_target not in df.columns:
            raise UserError(f"--aux-target {aux_target}: no such column")
        levels = df[aux_target].dropna().nunique()
        if levels > 2:
            raise UserError(f"--aux-target {aux_target}: must be binary (yes/no, 1/0), but it takes {levels} values")
        out["aux"] = df[aux_target].map(lambda v: float(v in (True, 1, "1", "true", "yes")) if pd.notna(v) else 0.0)
    return out[(out["text"].str.len() > 0) & out["y"].notna()]


def data_from_run(path: str, with_fields: bool, aux_target: str | None, synthetic_path=None,
                  synthetic_target: str | None = None) -> Data:
    """The run's split; its admitted synthetic rows, or those of `synthetic_path` (a path or a DataFrame)."""
    prepared = Prepared.load(path)
    run, schema = prepared.run, prepared.schema
    _check(schema)
    if synthetic_path is not None:
        rows, source = as_table(synthetic_path, "the synthetic rows"), _name(synthetic_path)
    else:
        hint = "run `python -m augment run DATA --out RUN` first"
        source = run.require("augmented.parquet", hint=hint)
        augmented = read_table(source)
        rows = augmented[augmented["is_synthetic"]]
    rows = rows.reset_index(drop=True)
    parts = {name: learning_table(prepared.raw_rows(name), schema, with_fields, aux_target) for name in prepared.split}
    held_out = pd.concat([prepared.raw_rows("validation"), prepared.raw_rows("test")])
    synthetic = _synthetic_table(rows, source, schema, with_fields, aux_target, synthetic_target, parts["train"],
                                 held_out)
    return Data(parts["train"], synthetic, parts["validation"], parts["test"], rows)


def data_from_table(path, synthetic_path, overrides: SchemaOverrides, with_fields: bool,
                    aux_target: str | None, synthetic_target: str | None = None) -> Data:
    """A table split 70/15/15 (seed 0), and synthetic rows; each a path or a DataFrame."""
    if synthetic_target and synthetic_path is None:
        raise UserError("--synthetic-target needs --synthetic FILE: with --data there are no synthetic rows")
    df = as_table(path, "the table")
    schema = detect_schema(df, overrides)
    _check(schema)
    clean, _ = clean_rows(df, schema)
    split = split_rows(clean, schema.target, seed=0)
    parts = {name: learning_table(df.loc[ids], schema, with_fields, aux_target) for name, ids in split.items()}
    held_out = df.loc[np.concatenate([split["validation"], split["test"]])]
    if synthetic_path is None:
        return Data(parts["train"], parts["train"].iloc[:0], parts["validation"], parts["test"])
    rows = as_table(synthetic_path, "the synthetic rows").reset_index(drop=True)
    synthetic = _synthetic_table(rows, _name(synthetic_path), schema, with_fields, aux_target, synthetic_target,
                                 parts["train"], held_out)
    return Data(parts["train"], synthetic, parts["validation"], parts["test"], rows)


def _synthetic_table(rows: pd.DataFrame, source, schema: Schema, with_fields: bool, aux_target: str | None,
                     synthetic_target: str | None, real_train: pd.DataFrame, held_out: pd.DataFrame) -> pd.DataFrame:
    """The learning table of the synthetic rows, which must carry every column the learner reads.

    A synthetic row whose text equals a validation or test row's text is dropped, with a message:
    it would let the learner see the rows it is scored on."""
    rows = _relabelled(rows, schema, synthetic_target, (real_train["y"].min(), real_train["y"].max()))
    fields = PromptTemplate.from_schema(schema).fields if with_fields else []
    missing = [c for c in [*schema.text_columns, schema.target, *fields] if c not in rows.columns]
    if missing:
        raise UserError(f"{source}: the synthetic rows lack {', '.join(missing)}, which the learner reads; "
                        "give rows with the real table's columns")
    texts = row_texts(rows, schema)
    leaked = (texts.str.len() > 0) & texts.isin(set(row_texts(held_out, schema)))
    if leaked.any():
        tqdm.write(f"{source}: {int(leaked.sum())} synthetic row(s) dropped: their text equals a validation or test "
                   "row's (a generator fit with `python -m augment fit` sees train rows only)")
        rows = rows[~leaked.to_numpy()]
    return learning_table(rows, schema, with_fields, aux_target)


def _relabelled(rows: pd.DataFrame, schema: Schema, synthetic_target: str | None,
                target_range: tuple[float, float]) -> pd.DataFrame:
    """The synthetic rows with their target taken from another column, e.g. `text_rating` (the filter
    judge's reading of the text), when asked; clipped to the real train target's range, since a
    reading of 5.6 stars is at best a 5."""
    if not synthetic_target:
        return rows
    if synthetic_target not in rows.columns:
        raise UserError(f"--synthetic-target {synthetic_target}: the synthetic rows have no such column "
                        "(`augment filter` writes text_rating, its judge's reading of each text)")
    return rows.assign(**{schema.target: pd.to_numeric(rows[synthetic_target], errors="coerce").clip(*target_range)})


def _name(source) -> str:
    return "the synthetic rows" if isinstance(source, pd.DataFrame) else str(source)


def _check(schema: Schema) -> None:
    if not schema.target:
        raise UserError("the table has no target to predict; declare one with --target COLUMN")
    if not schema.text_columns:
        raise UserError("the table has no text column; the rating learners read text")
