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
from matplotlib.ticker import FuncFormatter

from augment.evaluate.tabular import binned, level_keys, numeric_values

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
    """Real and synthetic distribution of one column: densities on shared bins (log-spaced for
    skewed counts), or level shares (the 20 commonest real levels, labelled when few)."""
    fig, ax = plt.subplots(figsize=(4, 2.8), dpi=80)
    if continuous:
        r, s = numeric_values(real).dropna(), numeric_values(synthetic).dropna()
        if _skewed_counts(r):  # e.g. a feedback count: a linear histogram is one bar at zero
            bins = np.unique(np.geomspace(1, r.max() + 1, 30).round()) - 1
            ax.set_xscale("symlog")  # plain tick labels: mathtext is off for the user's text
            ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        else:
            bins = np.histogram_bin_edges(r, bins=30)
        ax.hist(r, bins=bins, alpha=0.5, density=True, label="real", color=REAL)
        ax.hist(s.clip(bins[0], bins[-1]), bins=bins, alpha=0.5, density=True, label="synthetic", color=SYNTHETIC)
    else:
        p = level_keys(real).fillna("(null)").value_counts(normalize=True)
        shown = p.head(MAX_LEVELS_SHOWN)
        q = level_keys(synthetic).fillna("(null)").value_counts(normalize=True).reindex(shown.index, fill_value=0)
        x = np.arange(len(shown))
        bars = [ax.bar(x - 0.2, shown.to_numpy(), 0.4, label="real", color=REAL),
                ax.bar(x + 0.2, q.to_numpy(), 0.4, label="synthetic", color=SYNTHETIC)]
        if len(shown) <= 6:
            for group in bars:
                ax.bar_label(group, fmt="%.2f", fontsize=6)
        ax.set_xticks(x, [_label(v) for v in shown.index], rotation=60, ha="right", fontsize=6)
        if len(p) > len(shown):
            ax.set_xlabel(f"the {len(shown)} commonest of {len(p)} levels", fontsize=7)
    ax.set_title(_label(real.name, 40), fontsize=9)
    ax.legend(fontsize=7)
    return _png(fig)


MAX_LEVELS_SHOWN = 20


def _skewed_counts(values: pd.Series) -> bool:
    """Non-negative whole numbers with a long right tail."""
    if values.empty or values.min() < 0 or not np.all(np.mod(values, 1) == 0):
        return False
    return bool(values.quantile(0.99) > 10 * max(values.median(), 1))


def _label(value, width: int = 18) -> str:
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


@_plain_text
def pair_heatmap(pairs: list[dict], columns: list[str]) -> str:
    """1 - score for every scored pair ({"columns": [a, b], "score": s}): 0 is a trend kept, darker
    a trend lost, each cell labelled; only columns in at least one scored pair are shown."""
    scored = [c for c in columns if any(c in pair["columns"] for pair in pairs)] or columns
    index = {name: i for i, name in enumerate(scored)}
    grid = np.full((len(scored), len(scored)), np.nan)
    for pair in pairs:
        a, b = pair["columns"]
        grid[index[a], index[b]] = grid[index[b], index[a]] = 1 - pair["score"]
    size = 3 + 0.45 * len(scored)
    fig, ax = plt.subplots(figsize=(size + 1, size), dpi=80)
    image = ax.imshow(grid, cmap="Reds", vmin=0, vmax=max(0.3, np.nanmax(grid) if pairs else 0.3))
    if len(scored) <= 12:
        for (i, j), value in np.ndenumerate(grid):
            if not np.isnan(value):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6)
    labels = [_label(c, 24) for c in scored]
    ax.set_xticks(range(len(scored)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(scored)), labels, fontsize=7)
    ax.set_title("pair-trend loss (1 - score; blank: no real trend)", fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _png(fig)


@_plain_text
def pair(real: pd.DataFrame, synthetic: pd.DataFrame, continuous: list[bool]) -> str:
    """Two columns jointly, real beside synthetic: a scatter of two numbers (up to 2,000 points
    each), else the joint shares of their bins or commonest levels as heatmaps on one color scale."""
    a, b = real.columns
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.0), dpi=80, sharex=all(continuous), sharey=all(continuous))
    if all(continuous):
        for ax, table, color, name in ((axes[0], real, REAL, "real"), (axes[1], synthetic, SYNTHETIC, "synthetic")):
            points = table[[a, b]].apply(numeric_values).dropna()
            points = points.sample(min(len(points), 2000), random_state=0)
            ax.scatter(points[a], points[b], s=3, alpha=0.3, color=color)
            ax.set_title(name, fontsize=9)
            ax.set_xlabel(_label(a, 30), fontsize=8)
        axes[0].set_ylabel(_label(b, 30), fontsize=8)
        return _png(fig)
    codes_a = binned(real[a], synthetic[a], continuous[0], bins=8)
    codes_b = binned(real[b], synthetic[b], continuous[1], bins=8)
    grids = []
    for side in (0, 1):
        grid = np.zeros((len(codes_b[2]), len(codes_a[2])))
        ok = (codes_a[side] >= 0) & (codes_b[side] >= 0)
        np.add.at(grid, (codes_b[side][ok], codes_a[side][ok]), 1)
        grids.append(grid / max(grid.sum(), 1))
    top = max(g.max() for g in grids) or 1.0
    for ax, grid, name in zip(axes, grids, ("real", "synthetic")):
        ax.imshow(grid, cmap="Blues", vmin=0, vmax=top, aspect="auto")
        ax.set_title(name, fontsize=9)
        ax.set_xticks(range(len(codes_a[2])), [_label(v, 14) for v in codes_a[2]], rotation=60, ha="right", fontsize=6)
        ax.set_yticks(range(len(codes_b[2])), [_label(v, 14) for v in codes_b[2]], fontsize=6)
        ax.set_xlabel(_label(a, 30), fontsize=8)
    axes[0].set_ylabel(_label(b, 30), fontsize=8)
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
