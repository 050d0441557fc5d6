"""A cheap classic augmentation of real text (EDA-style random deletion and swap): a control to beat."""

from __future__ import annotations

import numpy as np


def eda(text: str, rng: np.random.Generator, delete: float = 0.1, swaps: int = 1) -> str:
    """An EDA copy of `text` (Wei and Zou 2019): random word deletion and swaps."""
    words = str(text).split()
    if len(words) < 2:
        return str(text)
    kept = [w for w in words if rng.random() >= delete] or [words[int(rng.integers(len(words)))]]
    for _ in range(swaps):
        i, j = rng.integers(len(kept), size=2)
        kept[i], kept[j] = kept[j], kept[i]
    return " ".join(kept)
