"""The fidelity report: measure a synthetic table against a real one, write JSON, Markdown and HTML.

Sections: tabular (SDMetrics shapes and pair trends, three-column accuracy, detection AUC, entity consistency,
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
from augment.evaluate.tabular import detection_auc, level_keys, numeric_values, quality, three_column_accuracy
from augment.evaluate.text import measure_text
from augment.rows import clean_rows
from augment.runs import PROVENANCE_COLUMNS, write_json, write_text
from augment.schema import Schema, key_attributes

PASS_QUALITY, PASS_DETECTION, PASS_DCR = 0.8, 0.7, 1.0
MIN_ROWS = 10  # five detection folds of each table; two halves of the real one for the floors


def split_columns(schema: Schema) -> tuple[list[str], list[str]]:
    """The schema's (continuous, discrete) columns for the tabular measures, the target among them."""
    continuous = schema.with_role("numerical", "datetime")
    discrete = schema.with_role("categorical", "boolean")
    if schema.target:
        target = schema.column(schema.target)
        (discrete if target.is_discrete_target else continuous).append(target.name)
    return continuous, discrete


def check_tables(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema, train: pd.DataFrame | None = None) -> None:
    """A UserError unless real (and train) have the schema's columns and synthetic has them and nothing else."""
    for name, table in (("real", real), ("train", train)):
        absent = [c for c in schema.names if table is not None and c not in table.columns]
        if absent:
            raise UserError(f"the {name} table lacks the schema's column(s) {', '.join(map(repr, absent))}")
    missing = [c for c in schema.names if c not in synthetic.columns]
    extra = [c for c in synthetic.columns if c not in real.columns and c not in PROVENANCE_COLUMNS]
    if missing or extra:
        raise UserError(f"real and synthetic columns differ: missing in synthetic {missing}, not in real {extra}")


def check_rows(tables: dict[str, pd.DataFrame]) -> None:
    """A UserError if any table has too few rows to measure."""
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
    Every tabular score has a reference: the same score of as many real rows the generator did not
    have to reproduce (a sample of `train`, or of the stand-in half) against the same yardstick.
    `extra`: a run's filter outcomes, downstream results and provenance, shown as they are."""
    check_tables(real, synthetic, schema, train)
    # Both tables typed by the same row policy, so 0/1 and True/False are one boolean.
    real, synthetic = typed(real, schema), typed(synthetic, schema)
    check_rows({"real": real, "synthetic": synthetic})
    if train is None:
        halves = np.random.default_rng(seed).permutation(len(real))
        train, holdout = real.iloc[halves[: len(real) // 2]], real.iloc[halves[len(real) // 2 :]]
        yardstick = holdout
    else:
        train = typed(train, schema)
        check_rows({"train": train})
        holdout = yardstick = real
    reference = train.sample(min(len(synthetic), len(train)), random_state=seed)  # real rows, same size
    continuous, discrete = split_columns(schema)
    scores = quality(yardstick, synthetic, continuous, discrete)
    floor = quality(yardstick, reference, continuous, discrete)
    results = {
        "rows": {"real": len(real), "synthetic": len(synthetic), "train": len(train), "reference": len(reference)},
        "tabular": {
            **scores.to_dict(),
            "three_column_accuracy": three_column_accuracy(yardstick, synthetic, continuous, discrete, seed),
            "real_vs_real": {"quality": floor.quality, "column_shapes": floor.shapes,
                             "column_pair_trends": floor.pair_trends,
                             "three_column_accuracy": three_column_accuracy(yardstick, reference, continuous,
                                                                            discrete, seed),
                             "detection_auc": detection_auc(yardstick, reference, continuous, discrete, seed),
                             "detection_auc_boosting": detection_auc(yardstick, reference, continuous, discrete, seed,
                                                                     model="boosting")},
            "detection_auc": detection_auc(yardstick, synthetic, continuous, discrete, seed),
            "detection_auc_boosting": detection_auc(yardstick, synthetic, continuous, discrete, seed,
                                                    model="boosting"),
            "entity_consistency": entity_consistency(real, synthetic, schema),
            "category_coverage": {c: category_coverage(real[c], synthetic[c]) for c in discrete},
            "range_coverage": {c: range_coverage(real[c], synthetic[c]) for c in continuous},
            # SDMetrics' MissingValueSimilarity: 1 - the difference of the two tables' null shares.
            "missing_value_similarity": {c: 1 - abs(float(yardstick[c].isna().mean()) - float(synthetic[c].isna().mean()))
                                         for c in continuous + discrete},
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
        truth = key_attributes(real, entity.key, entity.attributes)
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
    """Share of the real levels that appear among the synthetic values."""
    levels = set(level_keys(real).dropna())
    return float(len(levels & set(level_keys(synthetic).dropna())) / len(levels)) if levels else 1.0


def range_coverage(real: pd.Series, synthetic: pd.Series) -> float:
    """Share of the real value range that the synthetic values span."""
    r, s = numeric_values(real).dropna(), numeric_values(synthetic).dropna()
    if r.empty or s.empty or r.max() == r.min():
        return float(not s.empty)
    overlap = min(r.max(), s.max()) - max(r.min(), s.min())
    return float(max(overlap, 0) / (r.max() - r.min()))


# ------------------------------------------------------------------------------------------ writing


def _f(value, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


QUALITY_MARGIN = 0.05  # a quality score passes within this of what real data scores against real data
DCR_RANGE = (0.9, 1.5)
DCR_SHARE_MAX = 0.6  # share of synthetic rows nearer to a training row than to a held-out one (0.5 expected)  # synthetic rows' distance to train rows, over real held-out rows' distance
TSTR_MARGIN = 1.10  # train on synthetic: RMSE at most 10% above training on as many real rows


def summary_rows(results: dict) -> list[dict]:
    """One row per headline score: its value, the real-vs-real reference, the rule that passes it
    (shown on the page), the mark, and its group (fidelity, privacy, utility) for the verdict."""
    tab, privacy, ceiling = results["tabular"], results["privacy"], results["tabular"]["real_vs_real"]
    rows = []

    def add(score, value, reference, rule, ok, group, digits=3):
        rows.append({"score": score, "value": value if isinstance(value, str) else _f(value, digits),
                     "real_vs_real": reference if isinstance(reference, str) else _f(reference, digits),
                     "pass_if": rule, "mark": "pass" if ok else "warn", "group": group})

    for key, name in (("quality", "quality (SDMetrics)"), ("column_shapes", "column shapes"),
                      ("column_pair_trends", "column pair trends"), ("three_column_accuracy", "three-column accuracy")):
        if key not in tab:  # a report measured before this score existed
            continue
        value, reference = tab[key], ceiling[key]
        ok = bool(np.isnan(value) and np.isnan(reference)) or value >= reference - QUALITY_MARGIN
        add(name, value, reference, f"at least real vs real - {QUALITY_MARGIN}", ok, "fidelity")
    for key, name in (("detection_auc", "detection ROC AUC, logistic regression"),
                      ("detection_auc_boosting", "detection ROC AUC, gradient boosting")):
        add(name, tab[key], ceiling[key], f"at most {PASS_DETECTION} (0.5: indistinguishable)",
            tab[key] <= PASS_DETECTION, "fidelity")
    for key, share in tab["entity_consistency"].items():
        add(f"entity consistency ({key})", f"{share:.1%}", "100%", "at least 99%", share >= 0.99, "fidelity")
    if "text" in results:
        emb = results["text"]["embedding"]
        add("text embedding Fréchet distance", emb["frechet"], emb["frechet_real_vs_real"],
            "at most 3 x real vs real + 0.05", emb["frechet"] <= 3 * emb["frechet_real_vs_real"] + 0.05, "fidelity")
        add("text embedding MMD", emb["mmd"], emb["mmd_real_vs_real"], "at most 3 x real vs real + 0.01",
            emb["mmd"] <= 3 * emb["mmd_real_vs_real"] + 0.01, "fidelity", digits=4)
        rating = results["text"].get("rating_consistency")
        if rating:
            add("rating consistency of text (Spearman)", rating["synthetic"], rating["real"],
                "at least 0.8 x real", rating["synthetic"] >= 0.8 * rating["real"], "fidelity")
        copies = privacy["text_copies"]
        add("exact copies of training text", str(copies["exact"]), "0", "0", copies["exact"] == 0, "privacy")
    low, high = DCR_RANGE
    add("DCR ratio, synthetic / real held-out", privacy["dcr_ratio"], "1",
        f"{low} to {high} (below: copies of training rows; above: far from real rows)",
        low <= privacy["dcr_ratio"] <= high, "privacy", digits=2)
    add("membership inference ROC AUC", privacy["membership_inference_auc"], "0.5", "at most 0.6",
        privacy["membership_inference_auc"] <= 0.6, "privacy")
    add("DCR share: closer to a training row than to a held-out one", privacy["dcr_share"], "0.5",
        f"at most {DCR_SHARE_MAX}", privacy["dcr_share"] <= DCR_SHARE_MAX, "privacy")
    tstr = results.get("utility", {}).get("train_on_synthetic_test_on_real")
    if tstr:
        add("rating RMSE, trained on synthetic rows", tstr["rmse_trained_on_synthetic"],
            tstr["rmse_trained_on_real_same_size"], f"at most {TSTR_MARGIN:g} x trained on as many real rows",
            tstr["rmse_trained_on_synthetic"] <= TSTR_MARGIN * tstr["rmse_trained_on_real_same_size"], "utility")
    return rows


def verdict(rows: list[dict]) -> str:
    """One sentence: fit to augment a training set (fidelity and utility pass), also fit to share
    (privacy passes too), or not fit, naming the scores that decided it."""
    failing = {group: [r["score"] for r in rows if r["group"] == group and r["mark"] == "warn"]
               for group in ("fidelity", "utility", "privacy")}
    usable = not failing["fidelity"] and not failing["utility"]
    if usable and not failing["privacy"]:
        return "Fit to augment a training set and to share: every score passes its rule."
    if usable:
        return ("Fit to augment a training set, not to share: " + ", ".join(failing["privacy"]) + " failed.")
    return "Not fit to augment a training set: " + ", ".join(failing["fidelity"] + failing["utility"]) + " failed."


def write_report(results: dict, real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema, out: str | Path) -> Path:
    """report.json (every number), report.md (the summary), report.html (summary, sections, figures)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = summary_rows(results)
    decision = verdict(rows)
    header = ["score", "value", "real_vs_real", "pass_if", "mark"]
    md = ["# Fidelity report", "", f"**{_md(decision)}**", "", _md(_counts_line(results)), *_md_header(results), "",
          "| score | value | real vs real | passes if | mark |", "| --- | ---: | ---: | --- | --- |"]
    md += [f"| {' | '.join(_md(row[k]) for k in header)} |" for row in rows]
    page = _html(results, rows, decision, typed(real, schema), typed(synthetic, schema), schema)  # all or none
    write_json(out / "report.json", results | {"verdict": decision, "summary": rows})
    write_text(out / "report.md", "\n".join(md) + "\n")
    write_text(out / "report.html", page)
    return out


def _facts(results: dict) -> list[str]:
    """The header lines: when, by which version, from which files (with their sha256), with which seed."""
    made = results.get("provenance")
    if not made:
        return []
    lines = [f"made {made['date']} by behavior-augment {made['tool_version']}, seed {made.get('seed', 'n/a')}"]
    lines += [f"{name}: {item['path']} (sha256 {item['sha256'][:16]}...)" for name, item in made["inputs"].items()]
    return lines


def _md_header(results: dict) -> list[str]:
    facts = _facts(results)
    return ["", *[f"- {_md(line)}" for line in facts]] if facts else []


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


def _img(name: str, data: str, wide: bool = False) -> str:
    return (f"<figure><img alt='{html.escape(name)}'{' class=wide' if wide else ''} src='data:image/png;base64,{data}'>"
            f"<figcaption>{html.escape(name)}</figcaption></figure>")


def _tabular_section(tab: dict, real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema) -> list[str]:
    continuous, discrete = split_columns(schema)
    return [
        "<h2>Tabular</h2>",
        _table(["column", "shape score (higher is better, 0-1)", "coverage (higher is better, 0-1)",
                "missing-value similarity (higher is better, 0-1)"],
               [[c, _f(tab["per_column"][c]), _f(tab["category_coverage"].get(c, tab["range_coverage"].get(c))),
                 _f(tab["missing_value_similarity"][c])] for c in continuous + discrete]),
        "".join(_img(c, figures.column(real[c], synthetic[c], c in continuous)) for c in continuous + discrete),
        _img("pair trends", figures.pair_heatmap(tab["per_pair"], continuous + discrete), wide=True),
        *_strongest_pairs(tab["per_pair"], real, synthetic, continuous),
    ]


def _strongest_pairs(per_pair: list[dict], real: pd.DataFrame, synthetic: pd.DataFrame, continuous: list[str],
                     count: int = 4) -> list[str]:
    """Joint shares of the pairs with the strongest real association, real beside synthetic."""
    ranked = sorted((p for p in per_pair if p.get("real_strength") is not None), key=lambda p: -p["real_strength"])
    if not ranked:
        return []
    pictures = "".join(
        _img(f"{a} x {b}: real strength {_f(p['real_strength'], 2)}, score {_f(p['score'])}",
             figures.pair(real[[a, b]], synthetic[[a, b]], [c in continuous for c in (a, b)]), wide=True)
        for p in ranked[:count] for a, b in [p["columns"]])
    return ["<h3>Strongest pairs in the real data</h3>", pictures]


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
        *_examples(real, synthetic, schema),
    ]


def _examples(real: pd.DataFrame, synthetic: pd.DataFrame, schema: Schema, per_level: int = 2) -> list[str]:
    """Real and synthetic texts side by side, a few per target level (the first ones: no choosing)."""
    target = schema.target
    if not target or not schema.column(target).is_discrete_target:
        return []

    def texts(table: pd.DataFrame, level) -> list[str]:
        rows = table[level_keys(table[target]) == level]
        joined = rows[schema.text_columns].apply(
            lambda row: " / ".join(str(v) for v in row if isinstance(v, str) and v.strip()), axis=1)
        return [t[:300] + ("..." if len(t) > 300 else "") for t in joined if t][:per_level]

    rows = []
    for level in sorted(set(level_keys(real[target]).dropna()), key=lambda v: float(v)):
        for real_text, synthetic_text in zip(texts(real, level), texts(synthetic, level)):
            rows.append([level, real_text, synthetic_text])
    return ["<h3>Example texts, by " + html.escape(target) + "</h3>",
            _table([target, "real (test rows)", "synthetic"], rows)] if rows else []


def _privacy_section(privacy: dict) -> list[str]:
    return [
        "<h2>Privacy</h2>",
        _table(["measure", "value", "reference"], [
            ["mean distance to the closest training row: synthetic", _f(privacy["dcr_mean_synthetic"]),
             f"real held-out: {_f(privacy['dcr_mean_real_holdout'])}"],
            ["share with an exact tabular twin in training: synthetic", _f(privacy["tabular_twin_share_synthetic"]),
             f"real held-out: {_f(privacy['tabular_twin_share_real_holdout'])}"],
            ["membership inference ROC AUC", _f(privacy["membership_inference_auc"]), "0.5 (no signal)"],
            ["nearest / second-nearest training row distance (NNDR), synthetic", _f(privacy["nndr_mean_synthetic"]),
             "near 1: no training row stands out; near 0: rows sit on single training rows"],
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


def _html(results: dict, rows: list[dict], decision: str, real: pd.DataFrame, synthetic: pd.DataFrame,
          schema: Schema) -> str:
    """The page: the verdict, the run's facts, the summary table, then one section per part of the report."""
    summary = "".join(f"<tr><td>{html.escape(r['score'])}</td><td>{html.escape(r['value'])}</td>"
                      f"<td>{html.escape(r['real_vs_real'])}</td><td>{html.escape(r['pass_if'])}</td>"
                      f"<td class='{r['mark']}'>{r['mark']}</td></tr>" for r in rows)
    facts = "".join(f"<li>{html.escape(line)}</li>" for line in _facts(results))
    sections = _tabular_section(results["tabular"], real, synthetic, schema)
    if "text" in results:
        sections += _text_section(results["text"], real, synthetic, schema)
    sections += _privacy_section(results["privacy"]) + _outcome_sections(results)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fidelity report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse;margin:0.5em 0}}td,th{{border:1px solid #ccc;padding:4px 8px}}
.verdict{{font-size:1.2em;font-weight:bold}}.pass{{color:#176f2c;font-weight:bold}}.warn{{color:#a15c00;font-weight:bold}}
figure{{display:inline-block;margin:6px}}img{{width:320px}}img.wide{{width:520px}}</style></head><body>
<h1>Fidelity report</h1><p class="verdict">{html.escape(decision)}</p>
<p>{html.escape(_counts_line(results))}</p><ul>{facts}</ul>
<h2>Summary</h2><p>Each score beside what real data scores against the same real rows (as many real
rows the generator did not have to reproduce) and the rule that passes it.</p>
<table><tr><th>score</th><th>value</th><th>real vs real</th><th>passes if</th><th>mark</th></tr>
{summary}</table>
{''.join(sections)}
</body></html>
"""
