"""LoRA fitting of the text LM on the train split: loss on completion tokens only, no padding waste.

Batches are bucketed by length (rows of similar length share a batch, padded only to the longest
of them), so a step costs what its real tokens cost; the forward pass runs under bfloat16 autocast
where the machine computes bfloat16 fast (the LoRA weights and the optimizer stay float32), and
the vocabulary projection is computed only where a completion token is predicted. Validation perplexity on completion tokens is
measured every `eval_every` steps and the best adapter is kept. A checkpoint (adapter, optimizer,
RNG, step) every `checkpoint_every` steps lets a killed fit continue where it stopped, to the same
result as an uninterrupted one: the whole batch plan is fixed by the seed up front. A tenth of the
rows are shown without their target line (condition dropout), for guided generation's
unconditional twin.

Under torchrun every process takes its share of each planned batch and DistributedDataParallel
averages the gradients, so the adapter stays the same on all ranks; rank 0 evaluates, saves and
checkpoints (with every rank's RNG state, so a resumed fit continues exactly).
"""

from __future__ import annotations

import math
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from torch.utils.checkpoint import checkpoint
from tqdm.auto import tqdm

from augment.distributed import World
from augment.errors import UserError
from augment.memory import release_heap
from augment.runs import read_json, staging_folder, value_hash, write_json
from augment.text.generate import real_text_facts
from augment.text.models import DEFAULT_LM, bfloat16_is_fast, load_lm, quiet_peft
from augment.text.prompts import PromptTemplate

IGNORE = -100  # label of tokens that carry no loss (prompt and padding)
BUCKET_WINDOW = 50  # batches' worth of rows sorted together: similar lengths, still shuffled
LOSS_CHUNK = 256  # completion positions projected onto the vocabulary at a time (`_projected_loss`)


@dataclass
class TextConfig:
    """The LoRA fit's settings: the base model, steps, batch, learning-rate schedule and adapter shape."""
    model: str = DEFAULT_LM
    steps: int = 120
    batch_size: int = 8
    learning_rate: float = 5e-4
    warmup: float = 0.1  # share of the steps the learning rate rises over, then it decays (cosine) to a tenth
    lora_r: int = 8
    lora_alpha: int = 16
    # No dropout on the adapter's input: the profiles show a row about once, so there is nothing to
    # regularize, and its Bernoulli masks (7 modules x 30 layers a step) took 40% of the CPU forward pass.
    lora_dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    max_tokens: int = 192
    eval_every: int = 40
    eval_rows: int = 64
    checkpoint_every: int = 20
    bucketed: bool = True  # False pads every row to max_tokens (the baseline the benchmark compares)
    balance_target: bool = True  # draw rows so each target level is equally likely (see `target_weights`)
    # bfloat16 autocast for the forward pass (LoRA weights stay float32); None: where bfloat16 is fast
    mixed_precision: bool | None = None
    # Recompute each layer's activations in the backward pass instead of keeping them: a step's
    # memory no longer grows with depth x batch x length, for more compute (reports/memory/).
    gradient_checkpointing: bool = True
    condition_dropout: float = 0.1  # share of rows shown without their target line (see `dropped_rows`)
    # "fields": the prompt is the row's lines; "chat": the same lines asked as a request in the LM's
    # chat template, so an instruct model's own prior writes too (prompts.py)
    prompt: str = "fields"

    def resume_key(self) -> str:
        """What a checkpoint must share with this config to be continued (more steps are fine)."""
        return value_hash({k: v for k, v in asdict(self).items() if k not in ("steps", "checkpoint_every")})


@dataclass
class Example:
    """One training row as tokens: the prompt, then the completion the loss is taken on."""
    input_ids: list[int]
    prompt_length: int

    @property
    def completion_tokens(self) -> int:
        return len(self.input_ids) - self.prompt_length


@dataclass
class FitResult:
    """What a LoRA fit reports: validation history, best step and perplexity, its speed."""
    history: list[dict] = field(default_factory=list)
    best_step: int = 0
    best_perplexity: float | None = None
    completion_tokens_per_second: float = 0.0
    bfloat16: bool = False  # whether the forward pass ran under bfloat16 autocast (`TextConfig.mixed_precision`)


def build_examples(tokenizer, template: PromptTemplate, df: pd.DataFrame, max_tokens: int,
                   with_target: bool = True) -> list[Example]:
    """Each row's prompt and completion (its text) as an Example of at most `max_tokens`, ending in EOS."""
    prompts = tokenizer([template.prompt(row, with_target) for _, row in df.iterrows()],
                        add_special_tokens=False)["input_ids"]
    completions = tokenizer([template.completion(row) for _, row in df.iterrows()],
                            add_special_tokens=False)["input_ids"]
    examples = []
    for prompt, completion in zip(prompts, completions):
        ids = (prompt + completion)[: max_tokens - 1] + [tokenizer.eos_token_id]
        examples.append(Example(ids, min(len(prompt), max_tokens - 1)))
    return examples


def target_weights(values: pd.Series, max_levels: int = 20) -> np.ndarray | None:
    """Drawing weights that make each target level equally likely (None: no target, or too many levels).

    Four in five real reviews are rated 4 or 5, so an adapter fit on rows as they come learns to
    write praise whatever the rating says. Drawn level-balanced, the text of each rating is still
    real text of that rating (the text given the rating is unchanged), but the rating now decides
    much more of the loss."""
    levels = values.astype(str).where(values.notna(), "missing")
    if levels.nunique() > max_levels or levels.nunique() < 2:
        return None
    weights = 1.0 / levels.map(levels.value_counts()).to_numpy(float)
    return weights / weights.sum()


def batch_plan(lengths: list[int], batch_size: int, steps: int, bucketed: bool, seed: int,
               weights: np.ndarray | None = None) -> list[list[int]]:
    """Row indices of every batch of the fit, decided up front by the seed; rows drawn by `weights`
    (with replacement) when given, else each once per pass."""
    rng = np.random.default_rng(seed)
    plan: list[list[int]] = []
    lengths_arr = np.asarray(lengths)
    while len(plan) < steps:
        order = rng.permutation(len(lengths)) if weights is None else rng.choice(len(lengths), len(lengths), p=weights)
        batches = []
        window = batch_size * BUCKET_WINDOW
        for start in range(0, len(order), window):
            chunk = order[start : start + window]
            if bucketed:
                chunk = chunk[np.argsort(lengths_arr[chunk], kind="stable")]
            batches += [chunk[i : i + batch_size].tolist() for i in range(0, len(chunk), batch_size)]
        plan += [batches[i] for i in rng.permutation(len(batches))]
    return plan[:steps]


def dropped_rows(batch_size: int, share: float, seed: int, step: int) -> np.ndarray:
    """Which rows of a step's batch are shown without their target line: condition dropout, as in
    classifier-free guidance (Ho & Salimans, 2022), so the unconditional twin that guided generation
    pushes away from is a prompt the adapter was fit on rather than one it never saw. Drawn from
    the seed and the step alone, so a resumed fit drops the same rows."""
    return np.random.default_rng([seed, step]).random(batch_size) < share


def collate(examples: list[Example], pad_id: int, pad_to: int | None = None) -> dict[str, torch.Tensor]:
    """Right-padded tensors; labels cover completion tokens only."""
    width = pad_to or max(len(e.input_ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        mask[i, :n] = 1
        labels[i, e.prompt_length : n] = torch.tensor(e.input_ids[e.prompt_length :])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def learning_rate(config: TextConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak.

    Without the warm-up, the first full-size Adam steps on the zero-initialized LoRA weights pushed
    the model to an early state that writes empty text (an empty title and then the end of text for
    most rows after 120 steps), from which it recovers only after a few hundred steps."""
    warmup = max(1, int(config.warmup * config.steps))
    if step < warmup:
        return config.learning_rate * (step + 1) / warmup
    progress = (step - warmup) / max(1, config.steps - warmup)
    return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def completion_loss(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Summed next-token loss over completion tokens, and their count.

    The vocabulary projection (49k columns) is applied only to the positions that predict a
    completion token: prompt and padding positions carry no loss, and projecting them held most of
    a step's memory. The model returns one position's logits; the last hidden state (after the final
    norm, what the projection reads) comes from its hidden states. The kept positions are projected
    `LOSS_CHUNK` at a time (see `_projected_loss`).
    """
    labels = batch["labels"]
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], logits_to_keep=1,
                output_hidden_states=True)
    targets = labels[:, 1:]
    keep = targets != IGNORE
    hidden = out.hidden_states[-1][:, :-1][keep]  # position t predicts token t + 1
    del out  # the other layers' hidden states
    head = getattr(model, "module", model).get_output_embeddings()  # unwrapped from DDP
    targets = targets[keep]
    loss = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, len(targets), LOSS_CHUNK):
        chunk = (head, hidden[start : start + LOSS_CHUNK], targets[start : start + LOSS_CHUNK])
        if torch.is_grad_enabled():  # the chunk's logits are recomputed in the backward pass, not kept
            loss = loss + checkpoint(_projected_loss, *chunk, use_reentrant=False)
        else:
            loss = loss + _projected_loss(*chunk)
    return loss, int(keep.sum())


def _projected_loss(head: torch.nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy of a chunk of positions. Its logits in float32 take 4 x 49k bytes a
    position, and their log-softmax and gradient as much again each: a batch's thousand-odd
    completion positions held over a gigabyte at once, a chunk a fraction of that."""
    logits = head(hidden).float()
    return torch.nn.functional.cross_entropy(logits, targets, reduction="sum")


@torch.no_grad()
def perplexity(model, examples: list[Example], pad_id: int, batch_size: int = 16,
               mixed_precision: bool = False) -> float:
    """Perplexity of the completion tokens of `examples` under `model`; `mixed_precision` runs the
    forward pass under bfloat16 autocast, as the fit does."""
    model.eval()
    device = next(model.parameters()).device
    total, count = 0.0, 0
    order = sorted(range(len(examples)), key=lambda i: len(examples[i].input_ids))
    for start in range(0, len(order), batch_size):
        batch = collate([examples[i] for i in order[start : start + batch_size]], pad_id)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=mixed_precision):
            loss, n = completion_loss(model, {k: v.to(device) for k, v in batch.items()})
        total, count = total + float(loss), count + n
    model.train()
    return math.exp(total / max(count, 1))


def fit_text(train: pd.DataFrame, validation: pd.DataFrame | None, template: PromptTemplate, out: str | Path,
             config: TextConfig, seed: int = 0, progress: bool = True, init_adapter: str | Path | None = None,
             world: World | None = None) -> FitResult:
    """Fit a LoRA adapter; the best one ends in OUT/adapter, with the tokenizer and template beside it.

    `init_adapter`: an earlier adapter folder to start from (same base model and LoRA shape).
    `world`: this process's rank and device (one CPU process by default)."""
    world = world or World()
    if config.batch_size < world.size:
        raise UserError(f"text LoRA: batch size {config.batch_size} is smaller than {world.size} processes")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model, tokenizer, trainer = _lora_model(config, seed, init_adapter, world)
    if config.prompt == "chat":
        template = template.in_chat(tokenizer)
    examples, unconditional, val_examples, plan = _training_data(tokenizer, template, train, validation, config, seed)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)

    facts = real_text_facts(tokenizer, template, train)
    result = FitResult()
    start_step = _resume(out / "checkpoint", model, optimizer, config, result, world)
    pad_to = None if config.bucketed else config.max_tokens
    result.bfloat16 = bfloat16_is_fast(world.device) if config.mixed_precision is None else config.mixed_precision
    tokens, started = 0, time.perf_counter()
    bar = tqdm(range(start_step, config.steps), desc="text LoRA", unit="step",
               disable=not progress or not world.is_main,
               initial=start_step, total=config.steps)
    for step in bar:
        dropped = dropped_rows(len(plan[step]), config.condition_dropout, seed, step)
        share = [(unconditional if drop else examples)[i]
                 for i, drop in list(zip(plan[step], dropped))[world.rank :: world.size]]
        batch = {k: v.to(world.device) for k, v in collate(share, tokenizer.pad_token_id, pad_to).items()}
        with torch.autocast(world.device.type, dtype=torch.bfloat16, enabled=result.bfloat16):
            loss_sum, n = completion_loss(trainer, batch)
        optimizer.zero_grad(set_to_none=True)
        (loss_sum / max(n, 1)).backward()
        for group in optimizer.param_groups:  # a function of the step alone, so a resumed fit follows it exactly
            group["lr"] = learning_rate(config, step)
        optimizer.step()
        release_heap()  # what the step freed goes back to the system, so the heap does not creep up
        tokens += n * world.size  # about: the ranks share each batch
        record = {"step": step + 1, "loss": round(loss_sum.item() / max(n, 1), 4)}
        done = step + 1
        if val_examples and (done % config.eval_every == 0 or done == config.steps):
            score = round(perplexity(model, val_examples, tokenizer.pad_token_id, mixed_precision=result.bfloat16),
                          4) if world.is_main else None
            record["validation_perplexity"] = world.broadcast(score)
            if result.best_perplexity is None or record["validation_perplexity"] < result.best_perplexity:
                result.best_perplexity, result.best_step = record["validation_perplexity"], done
                if world.is_main:
                    _save_adapter(model, tokenizer, template, config, facts, out)
        result.history.append(record)
        rate = tokens / (time.perf_counter() - started)
        bar.set_postfix(loss=record["loss"], ppl=result.best_perplexity, tok_s=round(rate, 1))
        if done % config.checkpoint_every == 0 or done == config.steps:
            rng_states = world.gather(torch.get_rng_state())
            if world.is_main:
                _checkpoint(out / "checkpoint", model, optimizer, config, result, done, rng_states)
            world.barrier()
    result.completion_tokens_per_second = round(tokens / max(time.perf_counter() - started, 1e-9), 2)
    if world.is_main:
        if not val_examples:
            result.best_step = config.steps
            _save_adapter(model, tokenizer, template, config, facts, out)
        write_json(out / "fit.json", asdict(result) | {"config": asdict(config), "seed": seed, "processes": world.size})
    world.barrier()
    return result


def _lora_model(config: TextConfig, seed: int, init_adapter: str | Path | None, world: World):
    """The base LM with fresh (or `init_adapter`'s) LoRA weights, on the device and in training mode;
    (model, tokenizer, trainer), the trainer being the model wrapped for several processes."""
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    torch.manual_seed(seed)  # the same initial adapter on every rank
    base, tokenizer = load_lm(config.model)
    with quiet_peft():
        model = get_peft_model(base, LoraConfig(
            task_type="CAUSAL_LM", r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
            target_modules=list(config.target_modules)))
    if init_adapter is not None:
        try:
            set_peft_model_state_dict(model, load_file(str(Path(init_adapter) / "adapter_model.safetensors")))
        except (OSError, RuntimeError) as exc:
            raise UserError(f"--init-from: the adapter in {init_adapter} does not fit this model "
                            f"({str(exc).splitlines()[0]}); fit from scratch") from None
    if config.gradient_checkpointing:
        model.enable_input_require_grads()  # the frozen embeddings' output must carry a gradient to recompute from
        model.config.use_cache = False  # a fit keeps no key/value cache; said here, transformers does not warn
        recompute = {"use_reentrant": False}
        if hasattr(model, "activation_checkpointing_enable"):  # its name from transformers 5.x on
            model.activation_checkpointing_enable(activation_checkpointing_kwargs=recompute)
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=recompute)
    model.to(world.device).train()
    if world.size == 1:
        return model, tokenizer, model
    from torch.nn.parallel import DistributedDataParallel

    torch.manual_seed(seed * 1009 + world.rank)  # each rank its own dropout
    return model, tokenizer, DistributedDataParallel(model)


def _training_data(tokenizer, template: PromptTemplate, train: pd.DataFrame, validation: pd.DataFrame | None,
                   config: TextConfig, seed: int) -> tuple[list, list, list, list]:
    """Tokenized examples (with and without the target line, for condition dropout), validation
    examples, and the plan: which examples each step's batch holds."""
    examples = build_examples(tokenizer, template, train, config.max_tokens)
    unconditional = build_examples(tokenizer, template, train, config.max_tokens, with_target=False) \
        if config.condition_dropout > 0 and template.target else examples
    val_examples = build_examples(tokenizer, template, validation.head(config.eval_rows), config.max_tokens) \
        if validation is not None and len(validation) else []
    weights = target_weights(train[template.target]) if config.balance_target and template.target else None
    plan = batch_plan([len(e.input_ids) for e in examples], config.batch_size, config.steps, config.bucketed, seed,
                      weights)
    return examples, unconditional, val_examples, plan


def _save_adapter(model, tokenizer, template: PromptTemplate, config: TextConfig, facts: dict,
                  out: Path) -> None:
    """Adapter, tokenizer and template written to a staging folder, then renamed to OUT/adapter."""
    staging = staging_folder(out, ".adapter-")
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        write_json(staging / "template.json", template.to_dict() | {
            "base_model": config.model, "max_tokens": config.max_tokens, **facts})
        old = out / ".adapter-old"
        if (out / "adapter").exists():
            os.replace(out / "adapter", old)
        os.replace(staging, out / "adapter")
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _checkpoint(folder: Path, model, optimizer, config: TextConfig, result: FitResult, step: int,
                rng_states: list[torch.Tensor]) -> None:
    from peft import get_peft_model_state_dict

    staging = staging_folder(folder.parent, ".checkpoint-")
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(model).items()},
                  str(staging / "adapter.safetensors"))
        state = optimizer.state_dict()
        tensors = {f"{i}.{k}": v for i, s in state["state"].items() for k, v in s.items() if torch.is_tensor(v)}
        tensors |= {f"torch_rng.{rank}": state for rank, state in enumerate(rng_states)}
        save_file({k: v.cpu().contiguous() for k, v in tensors.items()}, str(staging / "optimizer.safetensors"))
        write_json(staging / "state.json", {"step": step, "resume_key": config.resume_key(),
                                            "param_groups": state["param_groups"], "result": asdict(result)})
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _resume(folder: Path, model, optimizer, config: TextConfig, result: FitResult, world: World) -> int:
    """Load a compatible checkpoint; return the step to continue from (0 when there is none)."""
    from peft import set_peft_model_state_dict

    if not (folder / "state.json").is_file():
        return 0
    state = read_json(folder / "state.json")
    tensors = load_file(str(folder / "optimizer.safetensors"), device=str(world.device))
    rng_states = {k: tensors.pop(k) for k in list(tensors) if k.startswith("torch_rng.")}
    if state["resume_key"] != config.resume_key() or state["step"] > config.steps or len(rng_states) != world.size:
        return 0  # another fit, or another number of processes: start over
    set_peft_model_state_dict(model, load_file(str(folder / "adapter.safetensors"), device=str(world.device)))
    torch.set_rng_state(rng_states[f"torch_rng.{world.rank}"].cpu())
    per_param: dict[int, dict] = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        per_param.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": per_param, "param_groups": state["param_groups"]})
    saved = state["result"]
    result.history, result.best_step, result.best_perplexity = saved["history"], saved["best_step"], \
        saved["best_perplexity"]
    return state["step"]
