"""Does the text model read the rating in its prompt? (womens-clothing, validation rows)

For real validation rows, 16 per rating, the log-likelihood of the row's real text is computed with
each rating 1-5 written in the prompt. A model that reads the rating finds the text most likely
under its true rating. Reported: Spearman correlation between the rating the likelihoods imply
(their softmax-weighted mean) and the true rating, the share where the most likely rating is the
true one, and the mean log-likelihood gap (nats) between the true and the mirrored rating (6 - r).

Compared: the untuned model with the bare prompt (`Rating: 2` among the other
fields), the untuned model with today's prompt (`Rating: 2 out of 5 (negative)` on its own line),
the untuned model with the same lines asked as a request in its chat template (`--text-prompt chat`),
and a fitted adapter with its own template (default: the quick profile's on 500 train rows, which
`bench/matched_data.py` fits; run that first).

    python bench/rating_reading.py [--adapter runs/matched500/models/text/adapter]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from augment.prepared import load_and_detect
from augment.runs import read_json
from augment.schema import SchemaOverrides
from augment.split import split_rows
from augment.text.models import load_lm
from augment.text.prompts import PromptTemplate
from bench.reporting import write_report


def reading(model, tokenizer, template: PromptTemplate, rows, target: str) -> dict:
    levels = np.arange(1, 6)
    scores = np.zeros((len(rows), len(levels)))
    with torch.no_grad():
        for i, (_, row) in enumerate(rows.iterrows()):
            completion = tokenizer(template.completion(row), add_special_tokens=False)["input_ids"] + \
                [tokenizer.eos_token_id]
            for j, level in enumerate(levels):
                prompt = tokenizer(template.prompt(row.to_dict() | {target: level}),
                                   add_special_tokens=False)["input_ids"]
                logits = model(input_ids=torch.tensor([prompt + completion])).logits[0, len(prompt) - 1 : -1]
                scores[i, j] = -torch.nn.functional.cross_entropy(logits.float(), torch.tensor(completion),
                                                                  reduction="sum").item()
    weights = np.exp(scores - scores.max(1, keepdims=True))
    implied = (weights / weights.sum(1, keepdims=True)) @ levels
    true = rows[target].to_numpy(int)
    mirrored = scores[np.arange(len(rows)), true - 1] - scores[np.arange(len(rows)), 5 - true]
    return {"spearman": round(float(spearmanr(implied, true).statistic), 3),
            "most_likely_is_true": round(float((scores.argmax(1) + 1 == true).mean()), 3),
            "gap_true_vs_mirrored_nats": round(float(mirrored[true != 3].mean()), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", default="runs/matched500/models/text/adapter",
                        help="a fitted adapter folder (default: the quick profile's on 500 rows, from "
                        "bench/matched_data.py)")
    parser.add_argument("--per-rating", type=int, default=16, help="validation rows per rating")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (Path(args.adapter) / "template.json").is_file():
        parser.error(f"--adapter {args.adapter}: no fitted adapter there; run `python bench/matched_data.py` "
                     "first, or pass an adapter folder (RUN/models/text/adapter)")
    torch.manual_seed(args.seed)
    _, schema, clean, _ = load_and_detect("womens-clothing", SchemaOverrides())
    validation = clean.loc[split_rows(clean, schema.target, args.seed)["validation"]]
    target = schema.target
    rows = validation.groupby(target, group_keys=False)[validation.columns].apply(
        lambda g: g.sample(args.per_rating, random_state=args.seed))
    today = PromptTemplate.from_schema(schema)
    bare = PromptTemplate(today.fields + [target], today.text_columns)
    base, tokenizer = load_lm()
    base.eval()
    results = {"untuned, bare prompt (`Rating: 2` among the fields)": reading(base, tokenizer, bare, rows, target),
               "untuned, today's prompt (`Rating: 2 out of 5 (negative)`)": reading(base, tokenizer, today, rows,
                                                                                     target),
               "untuned, chat prompt (the same lines as a request in the model's chat template)":
                   reading(base, tokenizer, today.in_chat(tokenizer), rows, target)}
    from peft import PeftModel

    tuned = PeftModel.from_pretrained(load_lm()[0], args.adapter).merge_and_unload().eval()
    template = PromptTemplate.from_dict(read_json(Path(args.adapter) / "template.json"))
    results[f"adapter {args.adapter}, its template"] = reading(tuned, tokenizer, template, rows, target)
    command = "python bench/rating_reading.py " + " ".join(sys.argv[1:])
    lines = ["# Does the text model read the rating? (womens-clothing validation rows)", "",
             f"Command: `{command}`. {len(rows)} real validation rows, {args.per_rating} per rating.", "",
             ("| model and prompt | Spearman (implied vs true rating) | most likely = true "
             "| gap true vs mirrored (nats) |"),
             "| --- | ---: | ---: | ---: |"]
    lines += [f"| {name} | {r['spearman']} | {r['most_likely_is_true']} | {r['gap_true_vs_mirrored_nats']} |"
              for name, r in results.items()]
    write_report("rating_reading", {"command": command, "rows": len(rows), "results": results}, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
