"""The report's figures, drawn with matplotlib and returned as base64 PNG for a self-contained page."""

from __future__ import annotations

import base64
import functools
import io

import matplotlib

matplotlib.use("Agg")  # no display: figures go to memory
import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from augment.evaluate.tabular import level_keys, numeric_values

REAL, SYNTHETIC = "#1f77b4", "#ff7f0e"
# Column names and values are the user's: a "$" in one must print as a dollar, not start mathtext.
PLAIN_TEXT = {"text.parse_math": False}


def _plain_text(draw):
    """Draw with matplotlib's math parsing off, without changing the caller's settings."""
    @functools.wraps(draw)
    def wrapped(*args, **kwargs):
        with plt.rc_context(PLAIN_TEXT):
            return draw(*args, **kwargs)
    return wrapped


def _png(fig) -> str:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


@_plain_text
def column(real: pd.Series, synthetic: pd.Series, continuous: bool) -> str:
    fig, ax = plt.subplots(figsize=(4, 2.6), dpi=80)
    if continuous:
        r, s = numeric_values(real).dropna(), numeric_values(synthetic).dropna()
        bins = np.histogram_bin_edges(r, bins=30)
        ax.hist(r, bins=bins, alpha=0.5, density=True, label="real", color=REAL)
        ax.hist(s, bins=bins, alpha=0.5, density=True, label="synthetic", color=SYNTHETIC)
    else:
        p = level_keys(real).fillna("(null)").value_counts(normalize=True)
        q = level_keys(synthetic).fillna("(null)").value_counts(normalize=True).reindex(p.index, fill_value=0)
        x = np.arange(len(p))
        ax.bar(x - 0.2, p.to_numpy(), 0.4, label="real", color=REAL)
        ax.bar(x + 0.2, q.to_numpy(), 0.4, label="synthetic", color=SYNTHETIC)
        ax.set_xticks(x, [str(v)[:12] for v in p.index], rotation=60, fontsize=6)
    ax.set_title(str(real.name), fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


@_plain_text
def pair_heatmap(pairs: list[dict], columns: list[str]) -> str:
    """1 - score for every scored pair ({"columns": [a, b], "score": s}): 0 (white) is a trend kept,
    darker is a trend lost."""
    index = {name: i for i, name in enumerate(columns)}
    grid = np.full((len(columns), len(columns)), np.nan)
    for pair in pairs:
        a, b = pair["columns"]
        grid[index[a], index[b]] = grid[index[b], index[a]] = 1 - pair["score"]
    fig, ax = plt.subplots(figsize=(5, 4), dpi=80)
    image = ax.imshow(grid, cmap="Reds", vmin=0, vmax=max(0.3, np.nanmax(grid) if pairs else 0.3))
    ax.set_xticks(range(len(columns)), [c[:14] for c in columns], rotation=60, fontsize=7)
    ax.set_yticks(range(len(columns)), [c[:14] for c in columns], fontsize=7)
    ax.set_title("pair-trend loss (1 - score; blank: no real trend)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _png(fig)


@_plain_text
def text_lengths(real: pd.Series, synthetic: pd.Series) -> str:
    fig, ax = plt.subplots(figsize=(4, 2.6), dpi=80)
    r = real.dropna().astype(str).str.split().str.len()
    s = synthetic.dropna().astype(str).str.split().str.len()
    bins = np.histogram_bin_edges(pd.concat([r, s]), bins=30)
    ax.hist(r, bins=bins, alpha=0.5, density=True, label="real", color=REAL)
    ax.hist(s, bins=bins, alpha=0.5, density=True, label="synthetic", color=SYNTHETIC)
    ax.set_title(f"{real.name}: words per text", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


@_plain_text
def projection(points: dict) -> str:
    fig, ax = plt.subplots(figsize=(4, 3.2), dpi=80)
    r, s = np.asarray(points["real"]), np.asarray(points["synthetic"])
    ax.scatter(r[:, 0], r[:, 1], s=4, alpha=0.5, label="real", color=REAL)
    ax.scatter(s[:, 0], s[:, 1], s=4, alpha=0.5, label="synthetic", color=SYNTHETIC)
    ax.set_title("text embeddings, first two principal axes", fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


@_plain_text
def outcomes(counts: dict[str, int]) -> str:
    fig, ax = plt.subplots(figsize=(4, 2.6), dpi=80)
    names = list(counts)
    ax.barh(names, [counts[n] for n in names], color=[REAL if n == "admitted" else SYNTHETIC for n in names])
    ax.set_title("generated rows by outcome", fontsize=9)
    return _png(fig)
