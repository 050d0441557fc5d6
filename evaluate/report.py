"""The fidelity report: measure a synthetic table against a real one, write JSON, Markdown and HTML.

Sections built so far: tabular (SDMetrics-style shapes and pair trends, detection AUC, entity
consistency, coverage) and privacy (distance to the closest real record). Text and utility
sections are not built yet; the report says so rather than leaving them out silently.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from augment.errors import UserError
from augment.runs import write_json, write_text
from augment.rows import clean_rows
from augment.schema import Schema
from evaluate.tabular import level_keys, numeric_values, detection_auc, quality

PASS_QUALITY, PASS_DETECTION, PASS_DCR = 0.8, 0.7, 1.0


def split_columns(schema: Schema) -> tuple[list[str], list[str]]:
    continuous = schema.with_role("numerical", "datetime")
    discrete = schema.with_role("categorical", "boolean")
    if schema.target:
        target = schema.column(schema.target)
        (discrete if target.is_discrete_target else continuous).append(target.name)
    return continuous, discrete


def check_tables(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> None:
    if synthetic.empty:
        raise UserError("the synthetic table has no rows")
    missing = [c for c in schema.names if c not in synthetic.columns]
    extra = [c for c in synthetic.columns if c not in real.columns and c != "is_synthetic"]
    if missing or extra:
        raise UserError(f"real and synthetic columns differ: missing in synthetic {missing}, not in real {extra}")


def measure(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema, seed: int = 0) -> dict:
    check_tables(real, synthetic, schema)
    # Both tables typed by the same row policy, so 0/1 and True/False are one boolean; without the
    # bounds, so an out-of-range synthetic value is scored, not nulled.
    unbounded = Schema([replace(c, min=None, max=None) for c in schema.columns], schema.entities)
    real, _ = clean_rows(real, unbounded)
    synthetic, _ = clean_rows(synthetic, unbounded)
    continuous, discrete = split_columns(schema)
    scores = quality(real, synthetic, continuous, discrete)
    return {
        "rows": {"real": len(real), "synthetic": len(synthetic)},
        "tabular": {
            **scores.to_dict(),
            "detection_auc": detection_auc(real, synthetic, continuous, discrete, seed),
            "entity_consistency": entity_consistency(real, synthetic, schema),
            "category_coverage": {c: category_coverage(real[c], synthetic[c]) for c in discrete},
            "range_coverage": {c: range_coverage(real[c], synthetic[c]) for c in continuous},
        },
        "privacy": distance_to_closest_record(real, synthetic, continuous, discrete, seed),
        "not_built": ["text (lengths, distinct-n, embedding distances, rating consistency)",
                      "utility (train on synthetic, test on real)"],
    }


def entity_consistency(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> dict[str, float]:
    """Share of synthetic rows whose key has, for every attribute, the key's real (modal) value.

    Counted over rows whose key occurs in the real table (a real held-out split lacks some keys).
    """
    out = {}
    for entity in schema.entities:
        if not entity.attributes:
            continue
        truth = real.groupby(entity.key)[entity.attributes].agg(lambda s: s.mode(dropna=False).iloc[0])
        known = synthetic[synthetic[entity.key].isin(truth.index)]
        if known.empty:
            continue
        joined = known[[entity.key, *entity.attributes]].join(truth, on=entity.key, rsuffix="\x00real")
        ok = np.ones(len(joined), dtype=bool)
        for name in entity.attributes:
            ok &= (level_keys(joined[name]).fillna("") == level_keys(joined[f"{name}\x00real"]).fillna("")).to_numpy()
        out[entity.key] = float(ok.mean())
    return out


def category_coverage(real: pd.Series, synthetic: pd.Series) -> float:
    levels = set(level_keys(real).dropna())
    return float(len(levels & set(level_keys(synthetic).dropna())) / len(levels)) if levels else 1.0


def range_coverage(real: pd.Series, synthetic: pd.Series) -> float:
    r, s = numeric_values(real).dropna(), numeric_values(synthetic).dropna()
    if r.empty or s.empty or r.max() == r.min():
        return float(not s.empty)
    overlap = min(r.max(), s.max()) - max(r.min(), s.min())
    return float(max(overlap, 0) / (r.max() - r.min()))


def distance_to_closest_record(real: pd.DataFrame, synthetic: pd.DataFrame, continuous: list[str],
                               discrete: list[str], seed: int, rows: int = 2000) -> dict:
    """Mean distance to the closest real record, for synthetic rows vs real held-out rows.

    The real table is halved: one half is the reference, the other the held-out yardstick. A ratio
    (synthetic / held-out) well below 1 means synthetic rows sit closer to real ones than new real
    rows do: a sign of memorization. Numbers are scaled by the real range; a differing level counts 1.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(real))
    reference, holdout = real.iloc[order[: len(real) // 2]], real.iloc[order[len(real) // 2 :]]

    def encode(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        numbers = np.column_stack([(numeric_values(df[c]) - numeric_values(real[c]).min()) /
                                   ((numeric_values(real[c]).max() - numeric_values(real[c]).min()) or 1.0)
                                   for c in continuous]) if continuous else np.zeros((len(df), 0))
        levels = np.column_stack([level_keys(df[c]).fillna("\x00").to_numpy() for c in discrete]) \
            if discrete else np.zeros((len(df), 0), dtype=object)
        return np.nan_to_num(numbers.astype(float), nan=0.0), levels

    ref_numbers, ref_levels = encode(reference.head(rows))

    def closest(df: pd.DataFrame) -> np.ndarray:
        numbers, levels = encode(df.sample(min(rows, len(df)), random_state=seed))
        out = np.empty(len(numbers))
        for i in range(len(numbers)):
            distance = np.abs(ref_numbers - numbers[i]).sum(axis=1) + (ref_levels != levels[i]).sum(axis=1)
            out[i] = distance.min()
        return out

    synthetic_dcr, holdout_dcr = closest(synthetic), closest(holdout)
    # Means, not medians: with few columns many real rows have an exact twin, and the median is 0.
    ratio = float(synthetic_dcr.mean() / holdout_dcr.mean()) if holdout_dcr.mean() > 0 else float("nan")
    return {
        "dcr_mean_synthetic": float(synthetic_dcr.mean()),
        "dcr_mean_real_holdout": float(holdout_dcr.mean()),
        "dcr_ratio": ratio,
        "exact_copies_share": float(np.mean(synthetic_dcr == 0)),
        "exact_copies_share_real_holdout": float(np.mean(holdout_dcr == 0)),
    }


# ------------------------------------------------------------------------------------------ writing


def summary_rows(results: dict) -> list[tuple[str, str, str, str]]:
    """(score, value, direction and range, mark) for the table at the top of every report."""
    tab, privacy = results["tabular"], results["privacy"]

    def mark(ok: bool) -> str:
        return "pass" if ok else "warn"

    rows = [
        ("quality (SDMetrics-style)", f"{tab['quality']:.3f}", "higher is better, 0-1", mark(tab["quality"] >= PASS_QUALITY)),
        ("column shapes", f"{tab['column_shapes']:.3f}", "higher is better, 0-1", mark(tab["column_shapes"] >= PASS_QUALITY)),
        ("column pair trends", f"{tab['column_pair_trends']:.3f}", "higher is better, 0-1",
         mark(np.isnan(tab["column_pair_trends"]) or tab["column_pair_trends"] >= PASS_QUALITY)),
        ("detection ROC AUC", f"{tab['detection_auc']:.3f}", "lower is better, 0.5-1 (0.5: indistinguishable)",
         mark(tab["detection_auc"] <= PASS_DETECTION)),
    ]
    for key, share in tab["entity_consistency"].items():
        rows.append((f"entity consistency ({key})", f"{share:.1%}", "higher is better, 0-100%", mark(share >= 0.99)))
    rows.append(("DCR ratio synthetic / real held-out", f"{privacy['dcr_ratio']:.2f}",
                 "near 1 is right; below 1 flags memorization", mark(privacy["dcr_ratio"] >= PASS_DCR * 0.9)))
    return rows


def write_report(results: dict, real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema, out: str | Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "report.json", results)
    rows = summary_rows(results)
    md = ["# Fidelity report", "", f"{results['rows']['real']} real rows, {results['rows']['synthetic']} synthetic rows.",
          "", "| score | value | direction, range | mark |", "| --- | ---: | --- | --- |"]
    md += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    md += ["", "Not measured yet: " + "; ".join(results["not_built"]) + "."]
    write_text(out / "report.md", "\n".join(md) + "\n")
    write_text(out / "report.html", _html(results, rows, real, synthetic, schema))
    return out


def _html(results: dict, rows, real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> str:
    continuous, discrete = split_columns(schema)
    figures = [(name, _figure_column(real[name], synthetic[name], name in continuous)) for name in continuous + discrete]
    table = "".join(f"<tr><td>{html.escape(a)}</td><td>{b}</td><td>{html.escape(c)}</td><td class='{d}'>{d}</td></tr>"
                    for a, b, c, d in rows)
    pairs = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.3f}</td></tr>"
                    for k, v in results["tabular"]["per_pair"].items())
    images = "".join(f"<figure><img alt='{html.escape(n)}' src='data:image/png;base64,{f}'>"
                     f"<figcaption>{html.escape(n)}</figcaption></figure>" for n, f in figures)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fidelity report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px}}.pass{{color:#176f2c}}.warn{{color:#a15c00}}
figure{{display:inline-block;margin:6px}}img{{width:320px}}</style></head><body>
<h1>Fidelity report</h1><p>{results['rows']['real']} real rows, {results['rows']['synthetic']} synthetic rows.</p>
<h2>Summary</h2><table><tr><th>score</th><th>value</th><th>direction, range</th><th>mark</th></tr>{table}</table>
<h2>Columns: real vs synthetic</h2>{images}
<h2>Column pair trends (pairs with a real trend)</h2><table><tr><th>pair</th><th>score</th></tr>{pairs}</table>
<h2>Not measured yet</h2><ul>{''.join(f'<li>{html.escape(x)}</li>' for x in results['not_built'])}</ul>
</body></html>
"""


def _figure_column(real: pd.Series, synthetic: pd.Series, continuous: bool) -> str:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 2.6), dpi=80)
    if continuous:
        r, s = numeric_values(real).dropna(), numeric_values(synthetic).dropna()
        bins = np.histogram_bin_edges(r, bins=30)
        ax.hist(r, bins=bins, alpha=0.5, density=True, label="real")
        ax.hist(s, bins=bins, alpha=0.5, density=True, label="synthetic")
    else:
        p = level_keys(real).fillna("(null)").value_counts(normalize=True)
        q = level_keys(synthetic).fillna("(null)").value_counts(normalize=True).reindex(p.index, fill_value=0)
        x = np.arange(len(p))
        ax.bar(x - 0.2, p.to_numpy(), 0.4, label="real")
        ax.bar(x + 0.2, q.to_numpy(), 0.4, label="synthetic")
        ax.set_xticks(x, [str(v)[:12] for v in p.index], rotation=60, fontsize=6)
    ax.set_title(str(real.name), fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
