"""The fidelity report: measure a synthetic table against a real one, write JSON, Markdown and HTML.

Sections: tabular (SDMetrics-style shapes and pair trends, detection AUC, entity consistency,
coverage), text (lengths, distinct-n, embedding distances with their real-vs-real floor, rating
consistency), privacy (copies of training text, distance to the closest record, membership
inference), utility (train on synthetic, test on real; the `python -m augment train` results when given)
and, for a run, the filter's outcomes. Every score states its direction and range.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from augment.errors import UserError
from augment.evaluate import figures
from augment.evaluate.privacy import measure_privacy
from augment.evaluate.tabular import detection_auc, level_keys, numeric_values, quality
from augment.evaluate.text import measure_text
from augment.rows import clean_rows
from augment.runs import PROVENANCE_COLUMNS, write_json, write_text
from augment.schema import Schema

PASS_QUALITY, PASS_DETECTION, PASS_DCR = 0.8, 0.7, 1.0
MIN_ROWS = 10  # five detection folds of each table; two halves of the real one for the floors


def split_columns(schema: Schema) -> tuple[list[str], list[str]]:
    continuous = schema.with_role("numerical", "datetime")
    discrete = schema.with_role("categorical", "boolean")
    if schema.target:
        target = schema.column(schema.target)
        (discrete if target.is_discrete_target else continuous).append(target.name)
    return continuous, discrete


def check_tables(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema, train: pd.DataFrame | None = None) -> None:
    for name, table in (("real", real), ("train", train)):
        absent = [c for c in schema.names if table is not None and c not in table.columns]
        if absent:
            raise UserError(f"the {name} table lacks the schema's column(s) {', '.join(map(repr, absent))}")
    missing = [c for c in schema.names if c not in synthetic.columns]
    extra = [c for c in synthetic.columns if c not in real.columns and c not in PROVENANCE_COLUMNS]
    if missing or extra:
        raise UserError(f"real and synthetic columns differ: missing in synthetic {missing}, not in real {extra}")


def check_rows(tables: dict[str, pd.DataFrame]) -> None:
    for name, table in tables.items():
        if len(table) < MIN_ROWS:
            raise UserError(f"the {name} table has {len(table)} usable rows; the report needs at least {MIN_ROWS}")


def typed(table: pd.DataFrame, schema: Schema) -> pd.DataFrame:
    """`table` typed by the row policy without the bounds (an out-of-range synthetic value is scored,
    not nulled; an infinite one is null), so every score and figure reads the same values."""
    unbounded = Schema([replace(c, min=None, max=None) for c in schema.columns], schema.entities)
    return clean_rows(table, unbounded)[0]


def measure(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema, seed: int = 0,
            train: pd.DataFrame | None = None, extra: dict | None = None) -> dict:
    """Every number of the report. `train`: the rows the generator saw (for copies, distances and
    membership); without it, half of `real` stands in for it and the other half is the yardstick.
    `extra`: a run's filter outcomes and downstream results, shown as they are."""
    check_tables(real, synthetic, schema, train)
    # Both tables typed by the same row policy, so 0/1 and True/False are one boolean.
    real, synthetic = typed(real, schema), typed(synthetic, schema)
    check_rows({"real": real, "synthetic": synthetic})
    if train is None:
        halves = np.random.default_rng(seed).permutation(len(real))
        train, holdout = real.iloc[halves[: len(real) // 2]], real.iloc[halves[len(real) // 2 :]]
    else:
        train = typed(train, schema)
        check_rows({"train": train})
        holdout = real
    continuous, discrete = split_columns(schema)
    scores = quality(real, synthetic, continuous, discrete)
    halves = np.random.default_rng(seed + 1).permutation(len(real))
    floor = quality(real.iloc[halves[: len(real) // 2]], real.iloc[halves[len(real) // 2 :]], continuous, discrete)
    results = {
        "rows": {"real": len(real), "synthetic": len(synthetic), "train": len(train)},
        "tabular": {
            **scores.to_dict(),
            "real_vs_real": {"quality": floor.quality, "column_shapes": floor.shapes,
                             "column_pair_trends": floor.pair_trends},
            "detection_auc": detection_auc(real, synthetic, continuous, discrete, seed),
            "entity_consistency": entity_consistency(real, synthetic, schema),
            "category_coverage": {c: category_coverage(real[c], synthetic[c]) for c in discrete},
            "range_coverage": {c: range_coverage(real[c], synthetic[c]) for c in continuous},
        },
        "privacy": measure_privacy(train, holdout, synthetic, continuous, discrete, seed),
    }
    if schema.text_columns:
        results["text"] = measure_text(real, synthetic, train, schema.text_columns, schema.target, seed)
        results["privacy"]["text_copies"] = results["text"].pop("copies")
        if "utility_tstr" in results["text"]:
            results["utility"] = {"train_on_synthetic_test_on_real": results["text"].pop("utility_tstr")}
    results.update(extra or {})
    return results


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


# ------------------------------------------------------------------------------------------ writing


def _f(value, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def summary_rows(results: dict) -> list[tuple[str, str, str, str, str]]:
    """(score, value, direction and range, real-vs-real reference, mark) for the top of every report."""
    tab, privacy = results["tabular"], results["privacy"]

    def mark(ok: bool) -> str:
        return "pass" if ok else "warn"

    pairs, ceiling = tab["column_pair_trends"], tab["real_vs_real"]
    rows = [
        ("quality (SDMetrics-style)", _f(tab["quality"]), "higher is better, 0-1", _f(ceiling["quality"]),
         mark(tab["quality"] >= PASS_QUALITY)),
        ("column shapes", _f(tab["column_shapes"]), "higher is better, 0-1", _f(ceiling["column_shapes"]),
         mark(tab["column_shapes"] >= PASS_QUALITY)),
        ("column pair trends", _f(pairs), "higher is better, 0-1", _f(ceiling["column_pair_trends"]),
         mark(np.isnan(pairs) or pairs >= PASS_QUALITY)),
        ("detection ROC AUC", _f(tab["detection_auc"]), "lower is better, 0.5-1", "0.5",
         mark(tab["detection_auc"] <= PASS_DETECTION)),
    ]
    for key, share in tab["entity_consistency"].items():
        rows.append((f"entity consistency ({key})", f"{share:.1%}", "higher is better, 0-100%", "100%",
                     mark(share >= 0.99)))
    if "text" in results:
        emb = results["text"]["embedding"]
        rows.append(("text embedding Fréchet distance", _f(emb["frechet"]), "lower is better, 0 and up",
                     _f(emb["frechet_real_vs_real"]), mark(emb["frechet"] <= 3 * emb["frechet_real_vs_real"] + 0.05)))
        rows.append(("text embedding MMD", _f(emb["mmd"], 4), "lower is better, 0 and up",
                     _f(emb["mmd_real_vs_real"], 4), mark(emb["mmd"] <= 3 * emb["mmd_real_vs_real"] + 0.01)))
        rating = results["text"].get("rating_consistency")
        if rating:
            rows.append(("rating consistency of text (Spearman)", _f(rating["synthetic"]), "higher is better, -1-1",
                         _f(rating["real"]), mark(rating["synthetic"] >= 0.8 * rating["real"])))
        copies = privacy["text_copies"]
        rows.append(("exact copies of training text", str(copies["exact"]), "lower is better, count", "0",
                     mark(copies["exact"] == 0)))
    rows.append(("DCR ratio synthetic / real held-out", _f(privacy["dcr_ratio"], 2),
                 "near 1 is right; below 1 flags memorization", "1", mark(privacy["dcr_ratio"] >= PASS_DCR * 0.9)))
    rows.append(("membership inference ROC AUC", _f(privacy["membership_inference_auc"]), "lower is better, 0.5-1",
                 "0.5", mark(privacy["membership_inference_auc"] <= 0.6)))
    tstr = results.get("utility", {}).get("train_on_synthetic_test_on_real")
    if tstr:
        rows.append(("rating RMSE, trained on synthetic", _f(tstr["rmse_trained_on_synthetic"]),
                     "lower is better, 0 and up", _f(tstr["rmse_trained_on_real_same_size"]),
                     mark(tstr["rmse_trained_on_synthetic"] < tstr["rmse_mean_predictor"])))
    return rows


def write_report(results: dict, real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema, out: str | Path) -> Path:
    """report.json (every number), report.md (the summary), report.html (summary, sections, figures)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = summary_rows(results)
    md = ["# Fidelity report", "", _md(_counts_line(results)), "",
          "| score | value | direction, range | real vs real | mark |", "| --- | ---: | --- | ---: | --- |"]
    md += [f"| {' | '.join(map(_md, row))} |" for row in rows]
    page = _html(results, rows, typed(real, schema), typed(synthetic, schema), schema)  # before any file: all or none
    write_json(out / "report.json", {k: v for k, v in results.items()} | {"summary": [
        dict(zip(("score", "value", "direction", "real_vs_real", "mark"), row)) for row in rows]})
    write_text(out / "report.md", "\n".join(md) + "\n")
    write_text(out / "report.html", page)
    return out


def _md(text: str) -> str:
    """`text` as literal Markdown: the user's column names and values never become markup."""
    text = html.escape(str(text), quote=False).replace("\n", " ")
    return re.sub(r"([\\`*_\[\]|$~])", r"\\\1", text)


def remove_report(out: str | Path) -> None:
    """Delete what `write_report` wrote in `out`, e.g. a report of rows that have since been replaced."""
    for name in ("report.json", "report.md", "report.html"):
        (Path(out) / name).unlink(missing_ok=True)


def _counts_line(results: dict) -> str:
    r = results["rows"]
    return (f"{r['synthetic']} synthetic rows against {r['real']} real rows; "
            f"{r['train']} training rows for the privacy checks.")


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(name: str, data: str) -> str:
    return (f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(name)}</figcaption></figure>")


def _tabular_section(tab: dict, real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> list[str]:
    continuous, discrete = split_columns(schema)
    return [
        "<h2>Tabular</h2>",
        _table(["column", "shape score (higher is better, 0-1)", "coverage (higher is better, 0-1)"],
               [[c, _f(tab["per_column"][c]), _f(tab["category_coverage"].get(c, tab["range_coverage"].get(c)))]
                for c in continuous + discrete]),
        "".join(_img(c, figures.column(real[c], synthetic[c], c in continuous)) for c in continuous + discrete),
        _img("pair trends", figures.pair_heatmap(tab["per_pair"], continuous + discrete)),
    ]


def _text_section(text: dict, real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> list[str]:
    emb = text["embedding"]
    return [
        "<h2>Text</h2>",
        _table(["measure", "real", "synthetic", "direction"], [
            ["distinct-1", _f(text["distinct_1"]["real"]), _f(text["distinct_1"]["synthetic"]), "closer to real"],
            ["distinct-2", _f(text["distinct_2"]["real"]), _f(text["distinct_2"]["synthetic"]), "closer to real"],
            ["vocabulary (same number of texts)", text["vocabulary"]["real"], text["vocabulary"]["synthetic"],
             "closer to real"],
            ["mean pairwise embedding similarity", _f(emb["self_similarity_real"]),
             _f(emb["self_similarity_synthetic"]), "closer to real (higher: less diverse)"],
            *[[f"{name}: mean words", _f(c["mean_words_real"], 1), _f(c["mean_words_synthetic"], 1),
               f"length KS complement {_f(c['length_ks_complement'])} (higher is better)"]
              for name, c in text["columns"].items()],
        ]),
        "".join(_img(f"{c} length", figures.text_lengths(real[c], synthetic[c])) for c in schema.text_columns),
        _img("embedding projection", figures.projection(text["projection"])),
    ]


def _privacy_section(privacy: dict) -> list[str]:
    return [
        "<h2>Privacy</h2>",
        _table(["measure", "value", "reference"], [
            ["mean distance to the closest training row: synthetic", _f(privacy["dcr_mean_synthetic"]),
             f"real held-out: {_f(privacy['dcr_mean_real_holdout'])}"],
            ["share with an exact tabular twin in training: synthetic", _f(privacy["tabular_twin_share_synthetic"]),
             f"real held-out: {_f(privacy['tabular_twin_share_real_holdout'])}"],
            ["membership inference ROC AUC", _f(privacy["membership_inference_auc"]), "0.5 (no signal)"],
            *([["exact / near copies of training text", (f"{privacy['text_copies']['exact']} / "
                f"{privacy['text_copies']['near']}"), "0"]] if "text_copies" in privacy else []),
        ]),
    ]


def _outcome_sections(results: dict) -> list[str]:
    """Utility (train on synthetic, test on real), and a run's downstream results and filter outcomes."""
    sections = []
    tstr = results.get("utility", {}).get("train_on_synthetic_test_on_real")
    if tstr:
        sections += ["<h2>Utility</h2>", _table(["rating model (TF-IDF + ridge), tested on real rows", "RMSE"], [
            [f"trained on {tstr['rows']} synthetic rows", _f(tstr["rmse_trained_on_synthetic"])],
            [f"trained on {tstr['rows']} real train rows", _f(tstr["rmse_trained_on_real_same_size"])],
            ["predicting the train mean", _f(tstr["rmse_mean_predictor"])]])]
    if results.get("downstream"):
        from augment.train.outputs import verdict_lines

        sections += ["<h2>Downstream: real-only vs augmented (python -m augment train)</h2><ul>",
                     "".join(f"<li>{html.escape(line)}</li>" for line in verdict_lines(results["downstream"])),
                     "</ul>"]
    if results.get("filter"):
        sections += ["<h2>Quality filter</h2>", _img("outcomes", figures.outcomes(results["filter"]["outcomes"]))]
    return sections


def _html(results: dict, rows, real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> str:
    """The page: the summary table, then one section per part of the report that has results."""
    summary = "".join(f"<tr><td>{html.escape(a)}</td><td>{b}</td><td>{html.escape(c)}</td><td>{d}</td>"
                      f"<td class='{e}'>{e}</td></tr>" for a, b, c, d, e in rows)
    sections = _tabular_section(results["tabular"], real, synthetic, schema)
    if "text" in results:
        sections += _text_section(results["text"], real, synthetic, schema)
    sections += _privacy_section(results["privacy"]) + _outcome_sections(results)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fidelity report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:0.5em 0}}td,th{{border:1px solid #ccc;padding:4px 8px}}
.pass{{color:#176f2c;font-weight:bold}}.warn{{color:#a15c00;font-weight:bold}}
figure{{display:inline-block;margin:6px}}img{{width:320px}}</style></head><body>
<h1>Fidelity report</h1><p>{html.escape(_counts_line(results))}</p>
<h2>Summary</h2><table><tr><th>score</th><th>value</th><th>direction, range</th><th>real vs real</th><th>mark</th></tr>
{summary}</table>
{''.join(sections)}
</body></html>
"""
