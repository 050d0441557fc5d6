"""Writing the text columns for rows (from the GAN or a user), batched and seeded.

Rows are generated in batches of similar prompt length; every batch stops as soon as all its rows
have ended their text, and no row runs past a limit taken from the real length distribution.
Sampling uses temperature and top-p, with a repetition penalty and no repeated 4-grams (the
un-tuned model loops). The fast path merges the adapter and quantizes the linear layers to int8
(dynamic quantization), which the benchmark compares with the plain float path.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from augment.errors import UserError
from augment.runs import read_json
from augment.text.models import load_lm
from augment.text.prompts import PromptTemplate

LENGTH_QUANTILE = 0.98  # completion-length limit: this quantile of the train completions, in tokens


@dataclass
class GenerationConfig:
    temperature: float = 0.8
    top_p: float = 0.92
    repetition_penalty: float = 1.1
    no_repeat_ngram_size: int = 4
    batch_size: int = 32
    max_new_tokens: int | None = None  # None: from the fitted adapter's real length distribution
    quantize: bool = True  # int8 dynamic quantization of linear layers (the fast path)


@dataclass
class TextModel:
    model: torch.nn.Module
    tokenizer: object
    template: PromptTemplate
    max_new_tokens: int

    @classmethod
    def load(cls, folder: str | Path, quantize: bool = True) -> TextModel:
        from peft import PeftModel

        folder = Path(folder)
        if not (folder / "template.json").is_file():
            raise UserError(f"{folder}: no fitted text model; run `python -m augment fit DATA --out RUN --stage text`")
        meta = read_json(folder / "template.json")
        base, tokenizer = load_lm(meta["base_model"])
        model = PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
        model.eval()
        if quantize:
            with warnings.catch_warnings():  # deprecated in favour of torchao, still the CPU's fastest path here
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        template = PromptTemplate(meta["fields"], meta["text_columns"])
        return cls(model, tokenizer, template, int(meta.get("max_new_tokens", 160)))


def length_limit(tokenizer, template: PromptTemplate, train: pd.DataFrame) -> int:
    completions = [template.completion(row) for _, row in train.head(5000).iterrows()]
    lengths = [len(ids) for ids in tokenizer(completions, add_special_tokens=False)["input_ids"]]
    return int(np.quantile(lengths, LENGTH_QUANTILE)) + 1


@torch.no_grad()
def generate_text(text_model: TextModel, rows: pd.DataFrame, config: GenerationConfig, seed: int = 0,
                  progress: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """`rows` with their text columns written, and the raw completions (in row order)."""
    tokenizer, template = text_model.tokenizer, text_model.template
    missing = [f for f in template.fields if f not in rows.columns]
    if missing:
        raise UserError(f"rows lack the fields the text model was fit on: {', '.join(missing)}")
    prompts = [template.prompt(row) for _, row in rows.iterrows()]
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]]
    order = np.argsort(lengths, kind="stable")
    completions = [""] * len(prompts)
    max_new = config.max_new_tokens or text_model.max_new_tokens
    batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    for index, batch in enumerate(tqdm(batches, desc="writing text", unit="batch", disable=not progress)):
        torch.manual_seed(seed * 100_003 + index)  # each batch seeded on its own: same rows, same text
        encoded = tokenizer([prompts[i] for i in batch], return_tensors="pt", padding=True, add_special_tokens=False)
        output = text_model.model.generate(
            **encoded,
            do_sample=True,
            temperature=config.temperature,
            top_p=config.top_p,
            repetition_penalty=config.repetition_penalty,
            no_repeat_ngram_size=config.no_repeat_ngram_size,
            max_new_tokens=max_new,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        new_tokens = output[:, encoded["input_ids"].shape[1]:]
        for i, text in zip(batch, tokenizer.batch_decode(new_tokens, skip_special_tokens=True)):
            completions[i] = text
    out = rows.copy()
    parsed = [template.parse(c) for c in completions]
    for name in template.text_columns:
        out[name] = [p[name] for p in parsed]
    return out, completions
