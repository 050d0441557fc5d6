"""What `python -m augment inspect` shows: roles, entities, missing values, cardinalities, row problems."""

from __future__ import annotations

from typing import Any

import pandas as pd

from augment.rows import RowReport
from augment.schema import ENTITY_CONSISTENCY, Schema


def describe_table(df: pd.DataFrame, schema: Schema, rows: RowReport, source: str) -> dict[str, Any]:
    """What `inspect` shows of a table: each column's role, type, nulls, distinct values and range."""
    columns = []
    for column in schema.columns:
        values = df[column.name]
        entry = {
            "name": column.name,
            "role": column.role,
            "dtype": column.dtype,
            "missing": int(values.isna().sum()),
            "distinct": int(values.nunique()),
        }
        if column.min is not None:
            entry.update(min=column.min, max=column.max)
        columns.append(entry)
    return {
        "source": source,
        "rows": len(df),
        "target": schema.target,
        "columns": columns,
        "entities": [
            {
                "key": e.key,
                "attributes": e.attributes,
                "declared": e.declared,
                "consistency": e.consistency,
            }
            for e in schema.entities
        ],
        "row_problems": rows.to_dict(),
        "schema": schema.to_dict(),
    }


def format_description(report: dict[str, Any]) -> str:
    """`describe_table`'s result as the text `inspect` prints."""
    lines = [f"{report['source']}: {report['rows']} rows, {len(report['columns'])} columns"]
    lines.append(f"target: {report['target'] or '(none: declare one with --target COLUMN)'}")
    lines.append("")
    width = max(len(c["name"]) for c in report["columns"])
    lines.append(f"{'column':<{width}}  {'role':<11} {'dtype':<8} {'missing':>8} {'distinct':>9}  range")
    for c in report["columns"]:
        span = f"{c['min']} .. {c['max']}" if "min" in c else ""
        lines.append(
            f"{c['name']:<{width}}  {c['role']:<11} {c['dtype']:<8} {c['missing']:>8} {c['distinct']:>9}  {span}"
        )
    lines.append("")
    if not report["entities"]:
        lines.append("entities: none found (declare one with --entity KEY=ATTR1,ATTR2)")
    for entity in report["entities"]:
        how = "declared" if entity["declared"] else "detected"
        lines.append(f"entity ({how}): {entity['key']} -> {', '.join(entity['attributes']) or '(no attributes)'}")
        for name, share in entity["consistency"].items():
            if name in entity["attributes"]:
                lines.append(f"    {name}: {share:.2%} of rows agree with their key")
            else:
                lines.append(
                    f"    not an attribute: {name} ({share:.2%} agree; needs {ENTITY_CONSISTENCY:.0%})"
                )
    lines.append("")
    lines.extend(RowReport(**report["row_problems"]).lines())
    return "\n".join(lines)
