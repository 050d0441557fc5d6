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

import pandas as pd

from augment.schema import BOOLEAN_VALUES, TRUE_VALUES, Schema, finite_numbers

KNOWN_BOOLEANS = set().union(*BOOLEAN_VALUES)


@dataclass
class RowReport:
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
            normalized = values.map(lambda v: v.strip().lower() if isinstance(v, str) else v)
            unknown = normalized.notna() & ~normalized.isin(KNOWN_BOOLEANS)
            _count_nulled(report, column.name, "unrecognized boolean", unknown)
            clean[column.name] = normalized.where(~unknown).map(
                lambda v: v if pd.isna(v) else v in TRUE_VALUES
            ).astype("boolean")
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
