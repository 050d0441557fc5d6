"""The prompt template: a row's non-text fields as one line, its target on the next, its text columns
as the completion.

    Age: 33 | Department Name: Tops | Class Name: Knits
    Rating: 4 out of 5 (positive)
    Title: Lovely top
    Review Text: Soft fabric, ...<eos>

The target (the rating) is said with its scale and in words, on its own line next to the text it
should steer: as a bare "Rating: 4" among the other fields, neither SmolLM2 nor its adapter read
it (the likelihood of a real review barely changed with the rating in the prompt, and generated
text did not follow the rating); in words, the untuned model already writes toward it.

The prompt ends with the first text column's label ("...\nTitle:"), so even an early adapter
writes in the format; the completion is everything after it.

With `in_chat`, the same lines become a user's request inside the model's own chat template
("Write the Title and Review Text for this record." and the lines), the answer starting with the
first text label: an instruct model then writes from what it learned answering requests, not only
from what the adapter learned from the user's few rows.

Kept in one place and saved with the adapter, so generation formats rows exactly as fitting did.
An empty text cell is an empty line after its label, as empty as in the real data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import pandas as pd

from augment.errors import UserError
from augment.schema import Schema

SCALE_WORDS = ("very negative", "negative", "mixed", "positive", "very positive")  # lowest to highest
PROMPT_STYLES = ("fields", "chat")  # the row's lines as they are; the same lines as a chat request
REQUEST = "\x00request\x00"  # where the request goes in a chat frame; no real text holds it


@dataclass
class PromptTemplate:
    """How a row becomes a prompt: its fields on one line, the target in words on its own line."""
    fields: list[str]  # non-text columns shown in the prompt's first line
    text_columns: list[str]
    target: str | None = None  # shown on its own line, with its scale in words
    target_range: tuple[float, float] | None = None  # the target's lowest and highest value
    chat: str | None = None  # the LM's chat template around one user request (REQUEST marks it), or None

    @classmethod
    def from_schema(cls, schema: Schema) -> PromptTemplate:
        fields = [c.name for c in schema.columns if c.role not in ("text", "id", "target")]
        target = next((c for c in schema.columns if c.name == schema.target), None)
        bounds = (target.min, target.max) if target is not None and target.is_numeric else (None, None)
        scale = bounds if None not in bounds and bounds[0] < bounds[1] else None
        return cls(fields, schema.text_columns, schema.target, scale)

    @classmethod
    def from_dict(cls, saved: dict) -> PromptTemplate:
        scale = saved.get("target_range")
        return cls(saved["fields"], saved["text_columns"], saved.get("target"), tuple(scale) if scale else None,
                   saved.get("chat"))

    def in_chat(self, tokenizer) -> PromptTemplate:
        """The same template with its lines asked as a user's request in `tokenizer`'s chat template."""
        if not getattr(tokenizer, "chat_template", None):
            raise UserError("--text-prompt chat: the text model has no chat template; use --text-prompt fields")
        frame = tokenizer.apply_chat_template([{"role": "user", "content": REQUEST}], tokenize=False,
                                              add_generation_prompt=True)
        return replace(self, chat=frame)

    @property
    def inputs(self) -> list[str]:
        """The columns a row needs for its prompt."""
        return self.fields + ([self.target] if self.target else [])

    def prompt(self, row: pd.Series | dict, with_target: bool = True) -> str:
        """The prompt; without its target line, the unconditional prompt of guided generation."""
        lines = [" | ".join(f"{name}: {_show(row[name])}" for name in self.fields)]
        if self.target and with_target:
            lines.append(self._target_line(row[self.target]))
        if self.chat:
            request = "\n".join([f"Write the {' and '.join(self.text_columns)} for this record.", *lines])
            return f"{self.chat.replace(REQUEST, request)}{self.text_columns[0]}:"
        return "\n".join(lines + [f"{self.text_columns[0]}:"])

    def _target_line(self, value) -> str:
        shown = f"{self.target}: {_show(value)}"
        number = pd.to_numeric(pd.Series([value]), errors="coerce").iloc[0]
        if self.target_range is None or pd.isna(number):
            return shown
        low, high = self.target_range
        position = min(max((number - low) / (high - low), 0.0), 1.0)
        return f"{shown} out of {_show(high)} ({SCALE_WORDS[round(position * (len(SCALE_WORDS) - 1))]})"

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
