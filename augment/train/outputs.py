"""What the experiment writes: results.csv (every fit), results.json (config and summaries), figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from augment.runs import atomic_path, write_json
from augment.train.experiment import ARMS, AUGMENTING


def write_results(results: pd.DataFrame, summary: list[dict], config: dict, out: str | Path,
                  provenance: dict | None = None) -> Path:
    """results.csv (every fit), results.json (settings, summary, provenance) and the two figures."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "results.csv") as tmp:
        results.to_csv(tmp, index=False)
    write_json(out / "results.json", {"config": config, "summary": summary, "provenance": provenance})
    _learning_curve(summary, out / "learning_curve.png")
    _gain(summary, out / "gain.png")
    return out


def verdict_lines(summary: list[dict]) -> list[str]:
    """One line per size and ratio: real-only RMSE and each arm's difference with its interval."""
    lines = []
    for entry in summary:
        arms = entry["arms"]
        line = (f"{entry['size']} real rows, synthetic:real {entry['ratio']:g}: real-only RMSE {arms['real']['rmse']:.3f}"
                f"{_secondary(arms['real'])}")
        if "augmented" in arms:
            line += f", augmented {_versus_real(arms['augmented'])}"
        lines.append(f"{line}: {entry['verdict']}")
        lines += _versus_controls(arms, "augmented") + _by_macro_mae(arms, "augmented")
        for arm in AUGMENTING[1:]:
            if arm in arms:
                lines.append(f"  the same rows, {arm}: {_versus_real(arms[arm])}: {arms[arm]['verdict']}")
                lines += _versus_controls(arms, arm) + _by_macro_mae(arms, arm)
    return lines


def _versus_real(arm: dict) -> str:
    return f"{arm['rmse']:.3f}{_secondary(arm)} ({_improvement(arm['vs_real'])})"


def _secondary(arm: dict) -> str:
    """The scores beside RMSE that were measured: macro MAE (rare ratings weigh as much as common
    ones), and ROC AUC and F1 for a 0/1 target."""
    names = {"macro_mae": "macro MAE", "auc": "AUC", "f1": "F1"}
    shown = [f"{label} {arm[name]:.3f}" for name, label in names.items() if np.isfinite(arm.get(name, np.nan))]
    return f" [{', '.join(shown)}]" if shown else ""


def _versus_controls(arms: dict, arm: str) -> list[str]:
    controls = arms.get(arm, {}).get("vs_controls", {})
    return [f"    {arm} beyond {control}: {_improvement(vs)}" for control, vs in controls.items()]


def _by_macro_mae(arms: dict, arm: str) -> list[str]:
    """The arm judged by macro MAE instead of RMSE: against real-only, then each control."""
    judged = arms.get(arm, {}).get("by_macro_mae")
    if not judged:
        return []
    return ([f"    {arm} by macro MAE: {_improvement(judged['vs_real'])}: {judged['verdict']}"]
            + [f"      beyond {control}: {_improvement(vs)}" for control, vs in judged["vs_controls"].items()])


def _improvement(vs: dict) -> str:
    return f"improvement {vs['improvement']:+.3f}, 95% CI [{vs['ci_low']:+.3f}, {vs['ci_high']:+.3f}], p={vs['p_value']:.3g}"


def _learning_curve(summary: list[dict], path: Path) -> None:
    ratios = sorted({e["ratio"] for e in summary})
    fig, axes = plt.subplots(1, len(ratios), figsize=(5 * len(ratios), 3.6), dpi=90, squeeze=False)
    for ax, ratio in zip(axes[0], ratios):
        entries = sorted((e for e in summary if e["ratio"] == ratio), key=lambda e: e["size"])
        for arm in ARMS:
            points = [(e["size"], e["arms"][arm]) for e in entries if arm in e["arms"]]
            if not points:
                continue
            sizes = [p[0] for p in points]
            means = np.array([p[1]["rmse"] for p in points])
            low = np.array([p[1]["ci_low"] for p in points])
            high = np.array([p[1]["ci_high"] for p in points])
            errors = np.nan_to_num(np.vstack([means - low, high - means]), posinf=0.0, neginf=0.0)
            ax.errorbar(sizes, means, yerr=errors, marker="o", capsize=3, label=arm)
        ax.set_xscale("log")
        ax.set_xlabel("real train rows")
        ax.set_ylabel("test RMSE (lower is better)")
        ax.set_title(f"synthetic:real = {ratio:g}")
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _gain(summary: list[dict], path: Path) -> None:
    bars = [(e, arm) for e in summary for arm in AUGMENTING if arm in e["arms"]]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=90)
    labels = [f"{e['size']}\n{e['ratio']:g}x" + ("" if arm == "augmented" else f"\n{arm}")
              for e, arm in bars]
    gains = [e["arms"][arm]["vs_real"] for e, arm in bars]
    verdicts = [e["arms"][arm]["verdict"] for e, arm in bars]
    means = np.array([g["improvement"] for g in gains])
    errors = np.nan_to_num(np.vstack([means - [g["ci_low"] for g in gains], [g["ci_high"] for g in gains] - means]),
                           posinf=0.0, neginf=0.0)
    ax.bar(range(len(bars)), means, yerr=errors, capsize=3,
           color=["#2ca02c" if v == "gain" else "#d62728" if v == "harm" else "#999999" for v in verdicts])
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(bars)), labels, fontsize=7)
    ax.set_ylabel("RMSE improvement over real-only")
    ax.set_title("augmentation gain with 95% CI (green: gain, grey: none, red: harm)", fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
