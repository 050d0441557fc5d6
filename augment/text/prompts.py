"""The prompt template: a row's non-text fields as one line, its text columns as the completion.

    Rating: 4 | Age: 33 | Department Name: Tops | Class Name: Knits
    Title: Lovely top
    Review Text: Soft fabric, ...<eos>

The prompt ends with the first text column's label ("...Knits\nTitle:"), so even an early adapter
writes in the format; the completion is everything after it.

Kept in one place and saved with the adapter, so generation formats rows exactly as fitting did.
An empty text cell is an empty line after its label, as empty as in the real data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from augment.schema import Schema


@dataclass
class PromptTemplate:
    fields: list[str]  # non-text columns shown in the prompt
    text_columns: list[str]

    @classmethod
    def from_schema(cls, schema: Schema) -> PromptTemplate:
        # The target goes last, next to the text it should steer: a small model attends most to what is near.
        fields = [c.name for c in schema.columns if c.role not in ("text", "id", "target")]
        return cls(fields + ([schema.target] if schema.target else []), schema.text_columns)

    def prompt(self, row: pd.Series | dict) -> str:
        fields = " | ".join(f"{name}: {_show(row[name])}" for name in self.fields)
        return f"{fields}\n{self.text_columns[0]}:"

    def completion(self, row: pd.Series | dict) -> str:
        full = "\n".join(f"{name}: {_clean(row.get(name))}" for name in self.text_columns)
        return full[len(self.text_columns[0]) + 1 :]

    def parse(self, completion: str) -> dict[str, str | None]:
        """The text columns back from a completion; a missing or empty column is None.

        Each column is one line, "Label: value", as in `completion`; a line that repeats a label
        already read, or that has none, is not part of any column."""
        out: dict[str, str | None] = dict.fromkeys(self.text_columns)
        read: set[str] = set()
        for line in f"{self.text_columns[0]}:{completion}".split("\n"):
            name = next((n for n in self.text_columns if line.startswith(f"{n}:") and n not in read), None)
            if name is not None:
                read.add(name)
                out[name] = line[len(name) + 1 :].strip() or None
        return out

    def to_dict(self) -> dict:
        return asdict(self)


def _show(value) -> str:
    if hasattr(value, "item"):  # numpy and pandas scalars
        value = value.item()
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "unknown"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _clean(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return " ".join(str(value).split())  # one line per column
