"""Benchmark: does augmentation help a user who has only N labelled rows? Every model sees the same N.

1. `python -m augment run womens-clothing --train-rows N --profile quick --rows ROWS`: the generator,
   the text model, the filter and its judge are all fit on the same N real train rows (and a
   validation split in proportion); the test split stays whole. Without the generated or admitted
   sets (--sets), `augment fit` alone: no filter is needed.
2. Sets of synthetic rows, each made from those N rows only: every row the run generated; the rows
   its filter admitted; rows drawn from the run's models with every rating equally likely
   (`augment sample --balance`, for the rare ratings); rows of a second fit on the same rows whose
   text model is asked through its chat template (`--text-prompt chat`, the instruct model's own
   prior); and a peer's rows: MOSTLY AI's engine
   (`mostlyai-engine`, the `bench` extra; its CPU default text model, an LSTM from scratch, or with
   --peer-model smollm2 the LM ours tunes, with LoRA) fit on the same N rows' ratings and texts, for
   the wall-clock time our text stage took.
3. The downstream protocol (`augment.train.experiment`) on the same N rows, with the learner given
   by --learner, for each set. Arms, each against real-only and against the controls (the real rows
   repeated, EDA copies, and the real rows oversampled to even ratings): the synthetic rows as
   written (augmented), relabelled by the real-only model (self-labelled), relabelled by an ensemble
   of the N rows (ensemble-labelled) or smoothed halfway toward its reading (smoothed), curated by
   that ensemble (curated; on the admitted rows this is the filter and curation combined), and drawn
   in proportion to how well its reading agrees with their label (reweighted). Each is judged by RMSE
   and by macro MAE.

    python bench/matched_data.py                  # N = 250, 500, 1000: writes reports/matched_data/
    python bench/matched_data.py --train-rows 500 # one N
    python bench/matched_data.py --train-rows 500 --sets balanced --ratios 1 2 3 4 --extra-rows 4 --name NAME
    python bench/matched_data.py --render         # the report again from its results.json
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/x.py` from anywhere
from augment.cli import settle_process
from augment.data import read_table, write_table
from augment.prepared import Prepared
from augment.runs import RunDir, read_json, write_json
from augment.split import split_rows
from augment.text.models import resolve_lm
from augment.train.data import data_from_run, learning_table
from augment.train.experiment import AUGMENTING, CONTROLS, Data, ExperimentConfig, run_experiment, summarize
from bench.reporting import report_folder, write_report

ARMS = ["augmented", "self-labelled", "ensemble-labelled", "curated", "smoothed", "reweighted", "repeated", "eda",
        "rebalanced"]
PEER_MODELS = {"lstm": lambda: None, "smollm2": resolve_lm}  # None: the engine's default LSTM
PEER_NAMES = {"lstm": "LSTMFromScratch-3m", "smollm2": "SmolLM2-135M-Instruct + LoRA"}
RUN_NAMES = {"run": "run", "chat": "chat-prompt fit"}  # the runs a report names, as it names them
SETS = {"generated": "every generated row", "admitted": "rows the filter admitted",
        "balanced": "rows drawn with every rating equally likely", "chat": "rows written through the chat prompt",
        "peer": "MOSTLY AI engine rows"}
INVALID = "_INVALID_"  # what MOSTLY AI's engine writes where it could not decode a value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-rows", type=int, nargs="+", default=[250, 500, 1000],
                        help="the user's labelled rows, N; one run per N (default 250 500 1000)")
    parser.add_argument("--rows", type=float, default=1.6,
                        help="admitted synthetic rows the run makes, per train row (default 1.6: 800 at N = 500)")
    parser.add_argument("--ratios", type=float, nargs="+", default=[0.5, 1.0],
                        help="synthetic rows per real row (default 0.5 1)")
    parser.add_argument("--seeds", type=int, default=10, help="seeds per setting (default 10)")
    parser.add_argument("--learner", default="tfidf", choices=["tfidf", "zero-shot", "finetune"])
    parser.add_argument("--seed", type=int, default=0, help="the runs' seed")
    parser.add_argument("--extra-rows", type=float, default=1.2,
                        help="rows of the rating-balanced, chat-prompt and peer sets, per train row (default 1.2)")
    parser.add_argument("--sets", nargs="+", choices=list(SETS), default=list(SETS),
                        help="the sets of synthetic rows measured: " + "; ".join(f"{k}: {v}" for k, v in SETS.items())
                        + " (default all)")
    parser.add_argument("--name", default="matched_data", help="writes reports/NAME/ (default matched_data)")
    parser.add_argument("--peer-model", choices=list(PEER_MODELS), default="lstm",
                        help="the engine's text model: lstm (its CPU default, default) or smollm2 (with LoRA; "
                        "slow to generate on a CPU)")
    parser.add_argument("--render", action="store_true",
                        help="only write the report again from its saved results.json (no fitting; its "
                        "provenance kept)")
    args = parser.parse_args()
    if args.render:
        saved = read_json(report_folder(args.name) / "results.json")
        record, summary = saved.pop("provenance"), {k: v for k, v in saved.items() if k != "headline"}
        write_report(args.name, summary, markdown(summary), headline=headline(summary), record=record)
        sys.exit(0)
    settle_process(None)  # the threads and memory settings `python -m augment` runs with
    by_n = {str(n): measure(n, args) for n in args.train_rows}
    summary = {"learner": args.learner, "seeds": args.seeds, "by_train_rows": by_n, "gains": gains(by_n)}
    write_report(args.name, summary, markdown(summary), headline=headline(summary))


def measure(train_rows: int, args: argparse.Namespace) -> dict:
    """Fit (or reuse) the runs on `train_rows` rows, make every set of synthetic rows, and run the
    protocol on each: {"runs": the commands, "peer": its timing, "sets": {name: rows and summary}}."""
    run = RunDir(f"runs/matched{train_rows}")
    chat = RunDir(f"{run.path}-chat")  # the same rows, the text LM asked through its chat template
    extra = round(args.extra_rows * train_rows)
    same = ["womens-clothing", "--train-rows", str(train_rows), "--profile", "quick", "--seed", str(args.seed)]
    # The filter's rows come from a whole run; the other sets need only its fitted models.
    filtered = bool({"generated", "admitted"} & set(args.sets))
    commands = {"run": ["run", *same, "--rows", str(round(args.rows * train_rows))] if filtered else ["fit", *same],
                "chat": ["fit", *same, "--text-prompt", "chat"]}
    fit_run(run, "synthesize" if filtered else "text", commands["run"])
    target = Prepared.load(run).schema.target
    sets, peer = {}, None
    if filtered:
        generated = read_table(run.file("synthetic_all.parquet"))
        if "generated" in args.sets:
            sets[SETS["generated"]] = generated
        if "admitted" in args.sets:
            sets[SETS["admitted"]] = generated[generated["admitted"]]
    if "balanced" in args.sets:
        sets[SETS["balanced"]] = sampled_rows(run, "balanced", extra, args.seed, "--balance", target)
    if "chat" in args.sets:
        fit_run(chat, "text", commands["chat"])
        sets[SETS["chat"]] = sampled_rows(chat, "sampled", extra, args.seed)
    if "peer" in args.sets:
        peer = peer_rows(run, extra, args.seed, args.peer_model)
        sets[f"MOSTLY AI engine rows ({peer['model']})"] = read_table(peer["rows"])
    results, log = {}, run.file("report", "matched_fits.jsonl")
    for name, rows in sets.items():
        data = data_from_run(str(run.path), False, None, rows)
        config = ExperimentConfig(sizes=[len(data.train)], ratios=args.ratios, seeds=args.seeds,
                                  learner=args.learner, arms=ARMS)
        results[name] = {"synthetic_rows": len(data.synthetic), "summary": summarize(run_experiment(data, config,
                                                                                                   log_path=log))}
        print(f"N = {train_rows}: {name}", flush=True)
    return {"runs": {name: f"python -m augment {' '.join(command)} --out {path.path}"
                     for (name, command), path in zip(commands.items(), (run, chat))
                     if name == "run" or "chat" in args.sets},
            "peer": peer and {k: v for k, v in peer.items() if k != "rows"}, "sets": results,
            "ceiling": ceiling(run, data, config, args.seed, log)}


def ceiling(run: RunDir, data: Data, config: ExperimentConfig, seed: int, log: Path) -> dict[str, dict]:
    """The more-real ceiling at each ratio: the learner fit on as many real rows as the user has and on
    (1 + ratio) times as many, both drawn from the table's whole train split (rows this user does not
    have), validated and tested on the run's rows. {ratio: the improvement, paired across seeds}."""
    prepared = Prepared.load(run)
    whole = split_rows(prepared.clean, prepared.schema.target, seed=seed)["train"]  # the split before --train-rows
    rows = learning_table(prepared.raw.loc[whole], prepared.schema, False, None)
    more = Data(rows, rows.iloc[:0], data.validation, data.test)
    fits = run_experiment(more, ExperimentConfig(sizes=config.sizes, ratios=config.ratios, seeds=config.seeds,
                                                 learner=config.learner, arms=["more real"]), log_path=log)
    return {f"{entry['ratio']:g}": entry["arms"]["more real"]["vs_real"] for entry in summarize(fits)}


def fit_run(run: RunDir, last_stage: str, command: list[str]) -> None:
    """`python -m augment COMMAND --out RUN`, unless the run already records `last_stage`."""
    if last_stage not in run.manifest().get("stages", {}):
        shutil.rmtree(run.path, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "augment", *command, "--out", str(run.path)], check=True)


def sampled_rows(run: RunDir, name: str, count: int, seed: int, *flags: str) -> pd.DataFrame:
    """`count` unfiltered rows with text from the run's models (`augment sample`), kept as RUN/NAME-COUNT.parquet
    (a rerun asking for another count samples again)."""
    path = run.file(f"{name}-{count}.parquet")
    if not path.exists():
        subprocess.run([sys.executable, "-m", "augment", "sample", "--run", str(run.path), "--rows", str(count),
                        "--with-text", "--seed", str(seed), "--out", str(path), *flags], check=True)
    return read_table(path)


def peer_rows(run: RunDir, count: int, seed: int, model: str) -> dict:
    """MOSTLY AI engine's LanguageModel fit on the run's N train rows (the target as a category and the
    text columns) for as long as our text stage took, then `count` rows. `model`: "lstm", the engine's
    CPU default (an LSTM from scratch), or "smollm2", the LM ours tunes, with the engine's LoRA (on 2
    CPU cores its JSON-constrained generation did not finish one batch of 64 rows in 19 minutes).
    Kept in the run: RUN/peer_mostlyai_MODEL.parquet and .json."""
    info_path, rows_path = run.file(f"peer_mostlyai_{model}.json"), run.file(f"peer_mostlyai_{model}.parquet")
    if info_path.exists():
        return json.loads(info_path.read_text())
    from mostlyai.engine import LanguageModel

    if model == "smollm2":
        import transformers.integrations.peft

        # transformers 5.24 asks for peft >= 0.22 before adding an adapter; no such release exists yet,
        # and 0.21.2 (what `augment` itself tunes with) adds a LoRA adapter fine
        transformers.integrations.peft.check_peft_version = lambda **_: None
    prepared = Prepared.load(run)
    target, texts = prepared.schema.target, prepared.schema.text_columns
    train = prepared.raw_rows("train")[[target, *texts]].astype({target: str})
    budget_min = run.manifest()["stages"]["text"]["seconds"] / 60
    with tempfile.TemporaryDirectory() as workspace:
        peer = LanguageModel(model=PEER_MODELS[model](), max_training_time=budget_min, workspace_dir=workspace,
                             tgt_encoding_types={target: "LANGUAGE_CATEGORICAL"} | dict.fromkeys(texts, "LANGUAGE_TEXT"),
                             random_state=seed, device="cpu")
        started = time.perf_counter()
        peer.fit(train)
        fit_s = time.perf_counter() - started
        rows = peer.sample(n_samples=count)
        sample_s = time.perf_counter() - started - fit_s
    # a row the engine could not decode carries no label or no text: dropped, as our gates drop theirs
    rows[target] = pd.to_numeric(rows[target], errors="coerce")
    rows = rows[rows[target].notna() & ~rows[texts].isin([INVALID]).any(axis=1)]
    write_table(rows, rows_path)
    info = {"model": PEER_NAMES[model], "budget_min": round(budget_min, 2), "fit_s": round(fit_s, 1),
            "sample_s": round(sample_s, 1), "rows": str(rows_path), "kept": len(rows),
            "asked": count, "threads": torch.get_num_threads()}
    write_json(info_path, info)
    return info


def finding(train_rows: str, result: dict, learner: str) -> str:
    """One sentence for one N: which synthetic arms gained beyond real-only and every control (by RMSE,
    by macro MAE), and which harmed by RMSE."""
    judged = [(name, entry["ratio"], arm, scores) for name, entry, arm, scores in _augmenting(result)]
    gains = [f"{arm} ({name}, {ratio:g}:1)" for name, ratio, arm, scores in judged if scores["verdict"] == "gain"]
    macro_gains = [f"{arm} ({name}, {ratio:g}:1)" for name, ratio, arm, scores in judged
                   if scores.get("by_macro_mae", {}).get("verdict") == "gain"]
    harms = sorted({arm for _, _, arm, scores in judged if scores["verdict"] == "harm"})
    text = (f"With {train_rows} labelled rows ({learner}), "
            + (f"a gain in RMSE beyond real-only and every control: {', '.join(gains)}" if gains
               else "no synthetic arm gains in RMSE beyond real-only and every control"))
    text += (f"; in macro MAE: {', '.join(macro_gains)}" if macro_gains else "; none in macro MAE either")
    return text + (f"; significant harm in RMSE from {', '.join(harms)}" if harms else "")


def _percent(change: float, sign: str = "") -> str:
    """A change in percent, cut (not rounded) to two decimals: a drop just short of the target's 10%
    never prints as 10.00%."""
    return f"{math.trunc(change * 10000) / 100:{sign}.2f}%"


def headline(summary: dict) -> str:
    """The index line: whether any arm meets the target, and per N the best share of the ceiling an RMSE
    gain reaches and the largest macro MAE drop a gain reaches (the full lists are in the report)."""
    found = summary["gains"]
    met = [g for g in found if g["meets_target"]]
    parts = [f"{summary['learner']} learner; the target (half the more-real ceiling in RMSE, or macro MAE -10%) "
             + (f"met by {len(met)} arm(s), {sum(g['verdict'] == 'harm' for g in met)} of them harming RMSE"
                if met else "met by no arm")]
    for n in summary["by_train_rows"]:
        rmse = [g for g in found if g["train_rows"] == n and g["verdict"] == "gain"]
        macro = [g for g in found if g["train_rows"] == n and g["verdict_by_macro_mae"] == "gain"]
        best = max(rmse, key=lambda g: g["share_of_ceiling"], default=None)
        drop = min(macro, key=lambda g: g["macro_mae_change"], default=None)
        parts.append(f"N = {n}: " + (f"RMSE gains up to {best['share_of_ceiling']:.0%} of the ceiling ({best['arm']})"
                                     if best else "no RMSE gain")
                     + (f", macro MAE down up to {_percent(-drop['macro_mae_change'])} ({drop['arm']})" if drop
                        else ", no macro MAE gain"))
    return "; ".join(parts)


TARGET_MACRO_CHANGE = -0.10  # the target: macro MAE down by 10% or more, or half the ceiling in RMSE


def _augmenting(result: dict):
    """(set name, summary entry, arm, scores) of every augmenting arm of one N's sets."""
    for name, one in result["sets"].items():
        for entry in one["summary"]:
            for arm, scores in entry["arms"].items():
                if arm in AUGMENTING:
                    yield name, entry, arm, scores


def gains(by_n: dict) -> list[dict]:
    """Every augmenting arm that gains beyond real-only and every control, by RMSE or by macro MAE, with
    its share of the more-real ceiling, its macro MAE change and whether it meets the target."""
    out = []
    for n, result in by_n.items():
        for name, entry, arm, scores in _augmenting(result):
            macro = scores.get("by_macro_mae", {})
            if "gain" not in (scores["verdict"], macro.get("verdict")):
                continue
            top = result.get("ceiling", {}).get(f"{entry['ratio']:g}", {}).get("improvement", float("nan"))
            share = scores["vs_real"]["improvement"] / top if top > 0 else float("nan")
            change = scores["macro_mae"] / entry["arms"]["real"]["macro_mae"] - 1
            met = (scores["verdict"] == "gain" and share >= 0.5) or (
                macro.get("verdict") == "gain" and change <= TARGET_MACRO_CHANGE)
            out.append({"train_rows": n, "set": name, "ratio": entry["ratio"], "arm": arm,
                        "rmse_vs_real": scores["vs_real"], "share_of_ceiling": share, "macro_mae_change": change,
                        "verdict": scores["verdict"], "verdict_by_macro_mae": macro.get("verdict"),
                        "meets_target": bool(met)})
    return out


def markdown(summary: dict) -> str:
    by_n = summary["by_train_rows"]
    lines = [f"# Augmentation with only N labelled rows, N = {', '.join(by_n)} (womens-clothing, {summary['learner']})",
             "",
             ("For each N, every model (generator, text model, filter, its judge, the ensembles, the peer and the "
              "learner) sees the same N real train rows. The sets of synthetic rows (each N lists those measured): one "
              "`augment run` (its every generated row and the rows "
              "its filter admitted), rows drawn from its models with every rating equally likely (`augment sample "
              "--balance`, unfiltered), and a second fit whose text model is asked through its chat template "
              "(`--text-prompt chat`; its rows unfiltered); the commands are under each N. Test RMSE of the rating "
              f"on the whole real test split, mean over {summary['seeds']} seeds; the improvement over real-only and "
              "over each control (the real rows repeated, EDA copies, the real rows oversampled to even ratings) is "
              "paired across seeds, with its 95% CI. A gain counts only if it beats real-only and every control, "
              "each CI above zero. Macro MAE: the mean absolute error of each star rating's test rows, averaged over "
              "the five ratings (the rare low ratings count as much as the common fives); the same comparisons and "
              "verdict are made on it. The ceiling: what as many more *real* rows would improve the RMSE, measured "
              "with rows of the table's whole train split that this user does not have. The target: a gain of at "
              "least half the ceiling in RMSE, or a macro MAE down by 10% or more, beyond every control."), "",
             "## Every arm that gains beyond real-only and every control", ""]
    found = gains(by_n)
    if found:
        lines += [("| N | set | synthetic:real | arm | RMSE vs real | share of the ceiling | macro MAE change | verdict "
                  "| verdict by macro MAE | meets the target |"),
                  "| ---: | --- | ---: | --- | --- | ---: | ---: | --- | --- | --- |"]
        lines += [f"| {g['train_rows']} | {g['set']} | {g['ratio']:g} | {g['arm']} | {_difference(g['rmse_vs_real'])} "
                  f"| {g['share_of_ceiling']:.0%} | {_percent(g['macro_mae_change'], '+')} | {g['verdict']} | "
                  f"{g['verdict_by_macro_mae'] or ''} | {'yes' if g['meets_target'] else 'no'} |" for g in found]
    else:
        lines.append("None, at any N.")
    lines += ["", "## The synthetic rows as written, at the largest ratio measured", "",
              ("| N | set | synthetic:real | RMSE real-only | RMSE augmented | verdict | macro MAE real-only "
               "| macro MAE augmented | change | verdict by macro MAE |"),
              "| ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |"]
    for n, result in by_n.items():
        for name, one in result["sets"].items():
            entry = next((e for e in reversed(one["summary"]) if "augmented" in e["arms"]), None)
            if entry is None:
                continue
            real, augmented = entry["arms"]["real"], entry["arms"]["augmented"]
            change = augmented["macro_mae"] / real["macro_mae"] - 1
            lines.append(f"| {n} | {name} | {entry['ratio']:g} | {real['rmse']:.4f} | {augmented['rmse']:.4f} | "
                         f"{augmented['verdict']} | {real['macro_mae']:.4f} | {augmented['macro_mae']:.4f} | "
                         f"{_percent(change, '+')} | {augmented.get('by_macro_mae', {}).get('verdict', '')} |")
    lines.append("")
    for n, result in by_n.items():
        lines += [f"## N = {n}", "", f"**Finding**: {finding(n, result, summary['learner'])}.", "",
                  "; ".join(f"The {RUN_NAMES[name]}: `{command}`" for name, command in result["runs"].items()) + ".", ""]
        if result.get("ceiling"):
            lines += ["The ceiling, as many more real rows: " + "; ".join(
                f"{ratio}:1 improves the RMSE by {_difference(c)}" for ratio, c in result["ceiling"].items()) + ".",
                ""]
        peer = result.get("peer")
        if peer:
            lines += [(f"The peer: MOSTLY AI's engine (`mostlyai-engine` LanguageModel, {peer['model']}) fit on the "
                       f"same rows' ratings and texts for at most {peer['budget_min']:.1f} min (our text "
                       f"stage's time; it fit in {peer['fit_s']:.0f} s), then {peer['asked']} rows in "
                       f"{peer['sample_s']:.0f} s ({peer['kept']} with a readable rating and text)."), ""]
        for name, one in result["sets"].items():
            lines += [f"### {name} ({one['synthetic_rows']} rows)", "", *_table(one["summary"]), ""]
    return "\n".join(lines)


def _table(summary: list[dict]) -> list[str]:
    lines = ["| synthetic:real | arm | RMSE | macro MAE | vs real | " + " | ".join(f"vs {c}" for c in CONTROLS)
             + " | verdict | macro MAE vs real | verdict by macro MAE |",
             "| ---: | --- | ---: | ---: | --- | " + " | ".join("---" for _ in CONTROLS) + " | --- | --- | --- |"]
    for entry in summary:
        for arm, scores in entry["arms"].items():
            versus = [_difference(scores.get("vs_real"))] + [
                _difference(scores.get("vs_controls", {}).get(c)) for c in CONTROLS]
            macro = scores.get("by_macro_mae", {})
            lines.append(f"| {entry['ratio']:g} | {arm} | {scores['rmse']:.4f} | "
                         f"{scores.get('macro_mae', float('nan')):.4f} | " + " | ".join(versus)
                         + f" | {scores.get('verdict', '')} | {_difference(macro.get('vs_real'))} | "
                         f"{macro.get('verdict', '')} |")
        missing = [arm for arm in ARMS if arm not in entry["arms"]]
        if missing:  # curated: fewer rows pass curation than the ratio asks for
            lines.append(f"| {entry['ratio']:g} | {', '.join(missing)} | | | | " + " | " * len(CONTROLS)
                         + "not measured: too few synthetic rows for this ratio | | |")
    return lines


def _difference(comparison: dict | None) -> str:
    if not comparison:
        return ""
    return f"{comparison['improvement']:+.4f} [{comparison['ci_low']:+.4f}, {comparison['ci_high']:+.4f}]"


if __name__ == "__main__":
    main()
