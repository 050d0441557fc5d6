"""Benchmark: float32 against bfloat16 for the text stages on this machine, and what "auto" picks.

bfloat16 is fast only where the hardware has kernels for it: a GPU, or a CPU with AVX-512 (oneDNN's
bfloat16 path). Elsewhere (AVX2-only CPUs: many AMD and older Intel machines) torch computes it in
a reference loop. The text stages therefore choose bfloat16 only where `bfloat16_is_fast` says so.
This script measures both on the machine it runs on, in one process, one after the other: the
LoRA fit (completion tokens learned per second, validation perplexity on 16 rows) and the decode
loop (rows written per minute) on womens-clothing rows. The defaults are small because bfloat16
without its kernels takes minutes a step. Run nothing else meanwhile.

    python bench/precision.py        # writes reports/precision/
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/x.py` from anywhere
from augment.cli import settle_process
from augment.data import read_table
from augment.schema import detect_schema
from augment.text.generate import GenerationConfig, TextModel, generate_text, resolve_precision
from augment.text.lora import TextConfig, fit_text
from augment.text.models import bfloat16_is_fast
from augment.text.prompts import PromptTemplate
from bench.reporting import write_report

PRECISIONS = ("float32", "bfloat16")


def fit_speed(train, validation, template, out: Path, steps: int, bfloat16: bool, seed: int) -> dict:
    """Fit the LoRA for `steps` (one validation pass at the end) with or without bfloat16 autocast."""
    config = TextConfig(steps=steps, batch_size=8, eval_every=steps, eval_rows=len(validation),
                        checkpoint_every=10**9, mixed_precision=bfloat16)
    started = time.perf_counter()
    result = fit_text(train, validation, template, out, config, seed=seed, progress=False)
    return {"seconds": round(time.perf_counter() - started, 1),
            "completion_tokens_per_second": result.completion_tokens_per_second,
            "validation_perplexity": result.best_perplexity}


def decode_speed(adapter: Path, rows, precision: str, max_new_tokens: int, seed: int) -> dict:
    """Write the text of `rows` with the adapter merged in `precision`: rows per minute."""
    model = TextModel.load(adapter, precision)
    config = GenerationConfig(batch_size=len(rows), max_new_tokens=max_new_tokens, precision=precision)
    started = time.perf_counter()
    generate_text(model, rows, config, seed=seed, progress=False)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "rows_per_minute": round(len(rows) * 60 / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=2, help="LoRA steps per fit (batch 8)")
    parser.add_argument("--rows", type=int, default=8, help="rows whose text each decode writes")
    parser.add_argument("--max-new-tokens", type=int, default=32, help="token limit of each written text")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    settle_process(None)
    table = read_table("womens-clothing").sample(200, random_state=args.seed).reset_index(drop=True)
    template = PromptTemplate.from_schema(detect_schema(table))
    train, validation, prompts = table.iloc[:96], table.iloc[96:112], table.iloc[112 : 112 + args.rows]
    prompts = prompts.drop(columns=template.text_columns)
    fits, decodes = {}, {}
    with tempfile.TemporaryDirectory() as work:
        for precision in PRECISIONS:
            fits[precision] = fit_speed(train, validation, template, Path(work) / precision, args.steps,
                                        precision == "bfloat16", args.seed)
            print("fit", precision, fits[precision], flush=True)
        for precision in PRECISIONS:  # both from the float32 fit's adapter: only the decode differs
            decodes[precision] = decode_speed(Path(work) / "float32" / "adapter", prompts, precision,
                                              args.max_new_tokens, args.seed)
            print("decode", precision, decodes[precision], flush=True)
    capability, fast, auto = torch.backends.cpu.get_cpu_capability(), bfloat16_is_fast("cpu"), resolve_precision("auto")
    fit_ratio = fits["float32"]["completion_tokens_per_second"] / fits["bfloat16"]["completion_tokens_per_second"]
    decode_ratio = decodes["float32"]["rows_per_minute"] / decodes["bfloat16"]["rows_per_minute"]
    lines = ["# float32 or bfloat16 for the text stages (womens-clothing, SmolLM2-135M + LoRA, CPU)", "",
             (f"CPU capability torch uses: **{capability}**; bfloat16 kernels: **{'yes' if fast else 'no'}**; "
             f"`auto` (the default) computes in **{auto}** here."), "",
             (f"| precision | LoRA fit: completion tokens/s ({args.steps} steps, batch 8) | validation perplexity "
             f"| decode: rows/min ({args.rows} rows, up to {args.max_new_tokens} tokens) |"),
             "| --- | ---: | ---: | ---: |"]
    lines += [f"| {p} | {fits[p]['completion_tokens_per_second']} | {fits[p]['validation_perplexity']} | "
              f"{decodes[p]['rows_per_minute']} |" for p in PRECISIONS]
    lines += ["", (f"float32 against bfloat16 on this machine: the fit **{fit_ratio:.2f}x**, the decode "
                  f"**{decode_ratio:.2f}x** as fast.")]
    headline = (f"{capability} CPU, bfloat16 kernels {'yes' if fast else 'no'}: float32 fits {fit_ratio:.2f}x and "
                f"decodes {decode_ratio:.2f}x as fast as bfloat16; auto picks {auto}")
    write_report("precision", {"cpu_capability": capability, "bfloat16_is_fast": fast, "auto": auto,
                               "fit": fits, "decode": decodes, "steps": args.steps, "rows": args.rows,
                               "max_new_tokens": args.max_new_tokens},
                 "\n".join(lines) + "\n", headline=headline)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
