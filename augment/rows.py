"""Row-level problems and the policy for each, applied to a working copy (the input is never altered).

Policy (also in the README):
- target null, unparseable (inf and magnitudes beyond 1e15 included) or outside its declared bounds:
  the row is left out of every split;
- a number that does not parse (or is inf, or beyond 1e15), or lies outside its column's declared bounds: set to null, and
  imputed later from the train split (see preprocess.py);
- a boolean that is not one of 0/1, true/false, yes/no, y/n, t/f: set to null.
Every case is counted per column and reported by `inspect` and in the run manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from augment.schema import Schema, booleans, finite_numbers


def typed_booleans(rows: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """`rows` with every boolean column read as booleans, however the rows spell them."""
    names = [c.name for c in schema.columns if c.role == "boolean" and c.name in rows.columns]
    return rows.assign(**{name: booleans(rows[name]) for name in names}) if names else rows


def as_input_types(rows: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """`rows` with each boolean column spelled as the input spells it (0/1 stay integers, yes/no
    text), where the schema recorded the spelling; synthetic rows leave the suite in the input's types."""
    out = rows.copy()
    for column in schema.columns:
        if column.role != "boolean" or not column.literals or column.name not in out.columns:
            continue
        false, true = column.literals
        values = booleans(out[column.name])
        if all(isinstance(v, bool) for v in (false, true)):
            out[column.name] = values if values.isna().any() else values.astype(bool)
            continue
        mapped = values.map(lambda v, t=true, f=false: None if pd.isna(v) else (t if v else f))
        if all(isinstance(v, int) for v in (false, true)):
            mapped = mapped.astype("Int64") if values.isna().any() else mapped.astype(np.int64)
        out[column.name] = mapped
    return out


@dataclass
class RowReport:
    """What cleaning did to a table: rows in and kept, rows left out by reason, cells set to null."""
    rows_in: int
    rows_kept: int
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows left out of the splits
    nulled: dict[str, dict[str, int]] = field(default_factory=dict)  # column -> reason -> cells set to null

    def to_dict(self) -> dict:
        return {"rows_in": self.rows_in, "rows_kept": self.rows_kept, "dropped": self.dropped, "nulled": self.nulled}

    def lines(self) -> list[str]:
        out = [f"rows: {self.rows_in} read, {self.rows_kept} usable"]
        out += [f"  left out: {count} row(s) with {reason}" for reason, count in self.dropped.items()]
        for column, reasons in self.nulled.items():
            out += [f"  set to null in '{column}': {count} {reason} value(s)" for reason, count in reasons.items()]
        return out


def clean_rows(df: pd.DataFrame, schema: Schema) -> tuple[pd.DataFrame, RowReport]:
    """A typed working copy of `df` (index = row ids of the input) and what was done to it."""
    clean = df.copy()
    report = RowReport(rows_in=len(df), rows_kept=len(df))
    keep = pd.Series(True, index=df.index)
    for column in schema.columns:
        values = df[column.name]
        if column.is_numeric:
            numbers = finite_numbers(values)
            unparseable = numbers.isna() & values.notna()
            outside = _outside(numbers, column.min, column.max)
            if column.role == "target":
                for reason, mask in (
                    (f"null target '{column.name}'", values.isna()),
                    (f"unparseable target '{column.name}'", unparseable),
                    (f"target '{column.name}' out of range [{column.min}, {column.max}]", outside),
                ):
                    _count(report.dropped, reason, int((mask & keep).sum()))
                    keep &= ~mask
            else:
                _count_nulled(report, column.name, "unparseable", unparseable)
                _count_nulled(report, column.name, f"out-of-range [{column.min}, {column.max}]", outside)
                numbers = numbers.mask(outside)
            clean[column.name] = numbers
        elif column.role == "boolean":
            typed = booleans(values)
            _count_nulled(report, column.name, "unrecognized boolean", typed.isna() & values.notna())
            clean[column.name] = typed
        elif column.role == "datetime":
            parsed = pd.to_datetime(values, errors="coerce", format="mixed")
            _count_nulled(report, column.name, "unparseable date", parsed.isna() & values.notna())
            clean[column.name] = parsed
    clean = clean[keep]
    report.rows_kept = len(clean)
    return clean, report


def _outside(numbers: pd.Series, low: float | None, high: float | None) -> pd.Series:
    mask = pd.Series(False, index=numbers.index)
    if low is not None:
        mask |= numbers < low
    if high is not None:
        mask |= numbers > high
    return mask


def _count(counter: dict[str, int], reason: str, count: int) -> None:
    if count:
        counter[reason] = counter.get(reason, 0) + count


def _count_nulled(report: RowReport, column: str, reason: str, mask: pd.Series) -> None:
    _count(report.nulled.setdefault(column, {}), reason, int(mask.sum()))
    if not report.nulled[column]:
        del report.nulled[column]
