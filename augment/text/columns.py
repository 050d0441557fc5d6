"""Which text columns each generated row leaves empty, drawn at the real rates and kept while decoding.

Sampled at temperature < 1, the adapter left a column empty far more often than real rows do
(titles 57% against 16%, reviews up to 30% against 4%): an empty column starts with the single most
likely token (" " before the line's end), which sharpening favours. So each row draws which of its
text columns are empty, at the train split's rates, and decoding keeps to it: a column drawn to be
written may not take an empty form, the text may not end before its last column (ended after a
title, it lost a review drawn to be written), and a row whose last column is drawn empty ends at
that column's label. An empty first column is written into the prompt instead.
The last column may not break its line: the template keeps one line per column, so the text after a
line break was lost when the completion was read back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from augment.text.prompts import PromptTemplate


def empty_rates(template: PromptTemplate, train: pd.DataFrame) -> dict[str, float]:
    """Share of train rows with each text column empty."""
    def empty(values: pd.Series) -> pd.Series:
        return values.isna() | (values.astype(str).str.strip() == "")

    return {name: round(float(empty(train[name]).mean()), 4) for name in template.text_columns}


def draw_written_columns(columns: list[str], rates: dict[str, float] | None, rows: int, seed: int) -> np.ndarray:
    """`[row, column]`: whether the row writes that column (all, without rates: an older adapter)."""
    if rates is None:
        return np.ones((rows, len(columns)), bool)
    return np.random.default_rng(seed).random((rows, len(columns))) >= np.array([rates[c] for c in columns])


class ColumnControl:
    """Decoding state of one batch: each row's current text column and where its text began."""

    def __init__(self, template: PromptTemplate, tokenizer, writes: np.ndarray, first_column: np.ndarray,
                 line_breaks: torch.Tensor):
        """`writes[row, column]`: the row writes that column; `first_column[row]`: where decoding starts;
        `line_breaks`: the vocabulary's tokens that hold a line break (`line_break_tokens`)."""
        self.tokenizer, self.writes, self.line_breaks = tokenizer, writes, line_breaks
        self.column, self.start = first_column.copy(), np.zeros(len(writes), int)
        self.labels = [f"\n{name}:" for name in template.text_columns]
        self.window = max(len(tokenizer(label, add_special_tokens=False)["input_ids"]) for label in self.labels) + 2
        self.forms = [empty_forms(template, tokenizer, c) for c in range(len(template.text_columns))]
        self.eos = tokenizer.eos_token_id

    def restrict(self, logits: torch.Tensor, alive: list[int], written: list[list[int]]) -> None:
        """Forbid the tokens that would leave a column the row must write empty, and line breaks in the
        last column."""
        last = [i for i, row in enumerate(alive) if self.column[row] == len(self.labels) - 1]
        if last:
            logits[last] = logits[last].masked_fill(self.line_breaks, -torch.inf)
        before_last = [i for i, row in enumerate(alive) if self.column[row] < len(self.labels) - 1]
        logits[before_last, self.eos] = -torch.inf  # the text ends in its last column (or at its label)
        for i, row in enumerate(alive):
            column = self.column[row]
            if not self.writes[row, column]:
                continue
            so_far = written[row][self.start[row] :]
            for form in self.forms[column]:
                if so_far == form[: len(so_far)] and len(so_far) < len(form):
                    logits[i, self.eos] = -torch.inf
                    if len(so_far) == len(form) - 1:
                        logits[i, form[-1]] = -torch.inf

    def advance(self, alive: list[int], written: list[list[int]]) -> list[bool]:
        """After a token: move rows that have written the next column's label on; True where a row
        must stop (it has reached a last column drawn empty)."""
        stop = []
        for row in alive:
            following = self.column[row] + 1
            done = False
            recent = self.tokenizer.decode(written[row][-self.window :])
            if following < len(self.labels) and recent.endswith(self.labels[following]):
                self.column[row], self.start[row] = following, len(written[row])
                done = following == len(self.labels) - 1 and not self.writes[row, following]
            stop.append(done)
        return stop


def line_break_tokens(tokenizer) -> torch.Tensor:
    """A mask over the vocabulary: the tokens whose text holds a line break."""
    texts = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return torch.tensor(["\n" in tokenizer.convert_tokens_to_string([t]) for t in texts])


def empty_forms(template: PromptTemplate, tokenizer, column: int) -> list[list[int]]:
    """The token sequences that, written at a column's start, leave it empty: its line's end as
    tokenized alone and before the next label (" \\n" is one token alone, two before "Review"), or
    the end of text for the last column."""
    def ids(text: str) -> list[int]:
        return tokenizer(text, add_special_tokens=False)["input_ids"]

    names = template.text_columns
    empty = template.completion(dict.fromkeys(names))  # " \nReview Text: ": each empty column is " "
    gap = empty[: empty.index("\n")] if len(names) > 1 else empty
    if column == len(names) - 1:
        return [[tokenizer.eos_token_id], ids(gap) + [tokenizer.eos_token_id]]
    label = f"{names[column + 1]}:"
    alone, in_context = ids(f"{gap}\n"), ids(f"{gap}\n{label}")[: -len(ids(label))]
    return [alone] + ([in_context] if in_context != alone else [])


def skipped_first_column(template: PromptTemplate) -> str:
    """The completion of a row whose first text column is empty, through the next column's label."""
    empty = template.completion(dict.fromkeys(template.text_columns))
    if len(template.text_columns) == 1:
        return empty
    label = f"{template.text_columns[1]}:"
    return empty[: empty.index(label) + len(label)]
