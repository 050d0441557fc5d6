"""Benchmark: peak resident memory and speed of the text LoRA stage, by allocator setting, with or
without gradient checkpointing, and with the vocabulary projection chunked or whole.

Three things hold a LoRA fit's memory on a CPU. (1) glibc raises its mmap threshold after each large
free, so later large tensors come from the heap, which fragments and is rarely returned
(augment/memory.py holds the threshold; AUGMENT_ALLOCATOR=glibc turns that off). (2) Every layer's
activations are kept for the backward pass (TextConfig.gradient_checkpointing recomputes them
instead). The threshold's size trades speed for memory: each mmap'd block is fresh pages to zero.
(3) The logits of every completion position, 49k float32 values each, with their log-softmax and
gradient (augment/text/lora.py projects LOSS_CHUNK positions at a time). (4) oneDNN's cache of
compiled primitives, one per shape seen (augment/memory.py holds it at 64; glibc defaults leave it
at 1,024), and heap pages freed between steps (handed back each step unless AUGMENT_ALLOCATOR=glibc).
Memory grows over the steps, so run enough of them (24 or more) to see (4). Each variant fits the
quick profile's LoRA on womens-clothing for N steps and measures validation perplexity once, as
the stage does every `eval_every` steps, in a fresh process; peak RSS is the stage's VmHWM, speed
the completion tokens learned per second of the fit (its steps and that validation pass). The
variants run one after another on the same machine: compare them with each other, and run nothing
else meanwhile.

    python bench/memory.py --steps 24        # writes reports/memory/
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python bench/x.py` from anywhere
from bench.reporting import write_report

DATA = "womens-clothing"
WHOLE = 10**9  # a LOSS_CHUNK no batch reaches: every completion position projected at once
# name: (environment, gradient checkpointing, positions projected at a time). MALLOC_MMAP_THRESHOLD_
# fixes glibc's threshold at another size, as augment/memory.py does at 4 MiB.
VARIANTS = {
    "glibc defaults, activations kept, whole projection": ({"AUGMENT_ALLOCATOR": "glibc"}, False, WHOLE),
    "glibc defaults, gradient checkpointing, whole projection": ({"AUGMENT_ALLOCATOR": "glibc"}, True, WHOLE),
    "128 KiB mmap threshold, gradient checkpointing, whole projection":
        ({"MALLOC_MMAP_THRESHOLD_": str(128 * 1024)}, True, WHOLE),
    "4 MiB mmap threshold, activations kept, whole projection": ({}, False, WHOLE),
    "4 MiB mmap threshold, gradient checkpointing, whole projection": ({}, True, WHOLE),
    "4 MiB mmap threshold, gradient checkpointing, chunked projection, oneDNN primitive cache 1,024":
        ({"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024"}, True, None),
    "4 MiB mmap threshold, gradient checkpointing, chunked projection, oneDNN primitive cache 64 (the default)":
        ({}, True, None),
}


def one_fit(steps: int, checkpointing: bool, loss_chunk: int | None) -> dict:
    """Prepare womens-clothing and fit the LoRA for `steps` in this process: its peak RSS and speed."""
    from augment.cli import settle_process
    from augment.pipeline import TEXT_PROFILES
    from augment.prepared import PrepareConfig, prepare
    from augment.runs import peak_memory_mb
    from augment.text import lora
    from augment.text.lora import TextConfig, fit_text
    from augment.text.prompts import PromptTemplate

    held = settle_process(None)
    if loss_chunk:  # None: the library's own chunk
        lora.LOSS_CHUNK = loss_chunk
    with tempfile.TemporaryDirectory() as folder:
        prepared = prepare(DATA, Path(folder) / "run", PrepareConfig(), stages=("text",))
        config = replace(TextConfig(**TEXT_PROFILES["quick"]), steps=steps, gradient_checkpointing=checkpointing,
                         eval_every=steps)
        peak_memory_mb(reset=True)
        result = fit_text(prepared.rows("train"), prepared.rows("validation"), PromptTemplate.from_schema(prepared.schema),
                          Path(folder) / "text", config, progress=False)
        return {"peak_rss_mb": peak_memory_mb(), "completion_tokens_per_second": result.completion_tokens_per_second,
                "mmap_threshold_held": held}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="LoRA steps per variant (default 20)")
    parser.add_argument("--child", choices=list(VARIANTS), help=argparse.SUPPRESS)  # one variant, in this process
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_fit(args.steps, *VARIANTS[args.child][1:])))
        return
    results = {}
    for name, (extra, checkpointing, loss_chunk) in VARIANTS.items():
        done = subprocess.run([sys.executable, __file__, "--steps", str(args.steps), "--child", name],
                              check=True, env=os.environ | extra, capture_output=True, text=True)
        results[name] = {"env": extra, "gradient_checkpointing": checkpointing, "loss_chunk": loss_chunk,
                         **json.loads(done.stdout.strip().splitlines()[-1])}
        print(name, results[name], flush=True)
    summary = {"command": " ".join(["python bench/memory.py", *sys.argv[1:]]), "steps": args.steps,
               "results": results}
    write_report("memory", summary, markdown(summary))


def markdown(summary: dict) -> str:
    lines = ["# Peak memory and speed of the text LoRA stage", "",
             (f"Command: `{summary['command']}`: {summary['steps']} LoRA steps of the quick profile on "
              "womens-clothing and one validation pass (64 rows), each variant in a fresh process, one after "
              "another; peak resident memory (VmHWM) of the stage and the completion tokens it learns per second "
              "(steps and validation)."), "",
             "| variant | peak RSS (MB) | completion tokens/s |", "| --- | ---: | ---: |"]
    lines += [f"| {name} | {r['peak_rss_mb']} | {r['completion_tokens_per_second']} |"
              for name, r in summary["results"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
