"""Which text columns each generated row leaves empty, drawn at the real rates and kept while decoding.

Sampled at temperature < 1, the adapter left a column empty far more often than real rows do
(titles 57% against 16%, reviews up to 30% against 4%): an empty column starts with the single most
likely token (" " before the line's end), which sharpening favours. So each row draws which of its
text columns are empty, at the train split's rates, and decoding keeps to it: a column drawn to be
written may not break its line or end before its first visible character (an empty form is one of
several tokens: " \n", " " then "\n", "\n\n\n\n", ...), the text may not end before its last column (ended after a
title, it lost a review drawn to be written), and a row whose last column is drawn empty ends at
that column's label. An empty first column is written into the prompt instead.
The last column may not break its line: the template keeps one line per column, so the text after a
line break was lost when the completion was read back.
"""

from __future__ import annotations

from typing import NamedTuple

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
    """Decoding state of one batch: each row's current text column and whether it has text in it yet."""

    def __init__(self, template: PromptTemplate, tokenizer, writes: np.ndarray, first_column: np.ndarray,
                 line_breaks: torch.Tensor, blanks: torch.Tensor):
        """`writes[row, column]`: the row writes that column; `first_column[row]`: where decoding starts;
        `line_breaks`, `blanks`: the vocabulary's tokens that hold a line break, and those that are
        only white space (`token_masks`)."""
        self.tokenizer, self.writes, self.line_breaks, self.blanks = tokenizer, writes, line_breaks, blanks
        self.column, self.begun = first_column.copy(), np.zeros(len(writes), bool)
        self.labels = [f"\n{name}:" for name in template.text_columns]
        self.window = max(len(tokenizer(label, add_special_tokens=False)["input_ids"]) for label in self.labels) + 2
        self.eos = tokenizer.eos_token_id

    def restrict(self, logits: torch.Tensor, alive: list[int]) -> None:
        """Forbid what would leave a column the row must write empty (a blank token, a line break or the
        end of text before its first visible character), the end of text before the last column, and
        line breaks in the last column. A blank start is forbidden too: after a lone " " (the start
        of an empty column, the adapter's likeliest token after a skipped title) the text had to go
        on without its space and began with a word's tail ("ortunately")."""
        last = len(self.labels) - 1
        unbegun = [i for i, row in enumerate(alive) if self.writes[row, self.column[row]] and not self.begun[row]]
        if unbegun:
            logits[unbegun] = logits[unbegun].masked_fill(self.blanks, -torch.inf)
        unbroken = [i for i, row in enumerate(alive) if self.column[row] == last]
        if unbroken:
            logits[unbroken] = logits[unbroken].masked_fill(self.line_breaks, -torch.inf)
        unended = [i for i, row in enumerate(alive) if self.column[row] < last or
                   (self.writes[row, last] and not self.begun[row])]
        logits[unended, self.eos] = -torch.inf

    def advance(self, alive: list[int], written: list[list[int]]) -> list[bool]:
        """After a token: move rows that have written the next column's label on; True where a row
        must stop (it has reached a last column drawn empty)."""
        stop = []
        for row in alive:
            following = self.column[row] + 1
            done = False
            recent = self.tokenizer.decode(written[row][-self.window :])
            if following < len(self.labels) and recent.endswith(self.labels[following]):
                self.column[row], self.begun[row] = following, False
                done = following == len(self.labels) - 1 and not self.writes[row, following]
            elif not self.begun[row]:
                self.begun[row] = bool(self.tokenizer.decode(written[row][-1:]).strip())
            stop.append(done)
        return stop


class TokenMasks(NamedTuple):
    """Masks over the vocabulary."""

    line_breaks: torch.Tensor  # the token's text holds a line break
    blanks: torch.Tensor  # only white space (line breaks included)
    sentence_ends: torch.Tensor  # ends a sentence (., ! or ?)
    glued: torch.Tensor  # starts with a letter: the tail of a word, not a new one


def token_masks(tokenizer) -> TokenMasks:
    """Masks over the tokenizer's vocabulary: tokens with a newline, blank ones, sentence ends, word starts."""
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    texts = [tokenizer.convert_tokens_to_string([t]) for t in tokens]

    def mask(test) -> torch.Tensor:
        return torch.tensor([test(text) for text in texts])

    return TokenMasks(mask(lambda t: "\n" in t), mask(lambda t: not t.strip()),
                      mask(lambda t: t.rstrip().endswith((".", "!", "?"))), mask(lambda t: t[:1].isalpha()))


def skipped_first_column(template: PromptTemplate) -> str:
    """The completion of a row whose first text column is empty, through the next column's label."""
    empty = template.completion(dict.fromkeys(template.text_columns))
    if len(template.text_columns) == 1:
        return empty
    label = f"{template.text_columns[1]}:"
    return empty[: empty.index(label) + len(label)]
