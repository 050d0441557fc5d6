"""The stage plan `run` prints before it starts: each stage, its size, and about how long it takes.

The rates are what the benchmarks measured on 2 idle cores (reports/tabular_suite for the GAN,
reports/filter_ablation for the text LoRA, generation and filter, and each filter mode's share of
rows admitted), scaled by the threads this process has. They are estimates to plan a coffee by,
not promises: a busy machine, a GPU or a longer text changes them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from augment.filter import FilterConfig
from augment.pipeline import PROFILES, TEXT_PROFILES, SynthesisConfig
from augment.prepared import Prepared

GAN_SECONDS_PER_EPOCH_PER_1K_ROWS = 0.13  # validation scoring included
# The text rates are the whole quick job's in reports/filter_ablation (its stage seconds over the
# steps and the generated rows).
TEXT_SECONDS_PER_STEP = 9.5  # model loading and validation included
SECONDS_PER_GENERATED_ROW = {True: 0.68, False: 0.001}  # with text (write + filter), without
EXPECTED_ACCEPTANCE = {"rejection": 0.09, "threshold": 0.11, "top": 0.5, "none": 1.0,
                       "drs": FilterConfig.target_acceptance}  # drs admits what it is calibrated to
MEASURED_ON_CORES = 2


@dataclass
class Stage:
    """One line of the stage plan: a stage, what it does and its estimated seconds."""
    name: str
    what: str
    seconds: float
    bound: bool = False  # the estimate is an upper bound (early stopping usually ends sooner)


def stage_plan(prepared: Prepared, synthesis: SynthesisConfig, profile: str = "quick", epochs: int | None = None,
               text_steps: int | None = None) -> list[Stage]:
    """The stages of `run` on this prepared data (a stage already done with the same inputs is skipped)."""
    schema = prepared.schema
    speed = MEASURED_ON_CORES / max(1, min(torch.get_num_threads(), MEASURED_ON_CORES * 4))
    train_rows = len(prepared.split["train"])
    epochs = epochs or PROFILES[profile]["epochs"]
    stages = [Stage("tabular GAN", f"at most {epochs} epochs on {train_rows:,} train rows",
                    epochs * train_rows / 1000 * GAN_SECONDS_PER_EPOCH_PER_1K_ROWS * speed,
                    bound=True)]
    text = bool(schema.text_columns)
    if text:
        steps = text_steps or TEXT_PROFILES[profile]["steps"]
        stages.append(Stage("text LoRA", f"at most {steps} steps", steps * TEXT_SECONDS_PER_STEP * speed, bound=True))
    acceptance = EXPECTED_ACCEPTANCE[synthesis.filter_mode]
    cap = int(synthesis.rows * synthesis.max_generated_factor)
    generated = min(cap, int(synthesis.rows / acceptance))
    short = f"; at that rate the cap of {cap:,} generated stops it near {int(cap * acceptance):,}" \
        if synthesis.rows / acceptance > cap else ""
    stages.append(Stage("synthesize", f"{synthesis.rows:,} rows wanted, '{synthesis.filter_mode}' admits about "
                        f"{acceptance:.0%}: about {generated:,} generated{short}",
                        generated * SECONDS_PER_GENERATED_ROW[text] * speed))
    return stages


def format_plan(stages: list[Stage]) -> str:
    """The stage plan as the lines `run` prints before it starts."""
    width = max(len(s.name) for s in stages)
    lines = [(f"plan ({torch.get_num_threads()} threads; rates measured on {MEASURED_ON_CORES} idle cores; "
              "a stage already done with the same inputs is skipped):")]
    for stage in stages:
        when = ("up to " if stage.bound else "about ") + _duration(stage.seconds)
        lines.append(f"  {stage.name:<{width}}  {when:<16}  {stage.what}")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
