"""Writing the text columns for rows (from the GAN or a user), batched and seeded.

Rows are generated in batches of similar prompt length by our own decode loop over the model's KV
cache: a row that has ended its text leaves the batch at once (its cache rows are dropped), so a
batch costs what its texts cost rather than the longest text times the batch size. No row runs past
a limit taken from the real length distribution. Sampling uses temperature and top-p with a light
repetition penalty (the un-tuned model loops: "I love my best friend. I love my best friend. ...").
A heavy one (1.15) wrote texts that hardly reuse a word (a median 94% of a text's
words distinct, real reviews 76%), which the quality filter's discriminator told from real text on
that alone; at 1.05 the texts reuse words as real ones do and loop as rarely (reports/text_lm/).
Which text columns a row leaves empty is drawn at the real rates and kept (`augment.text.columns`).
The rating is followed more closely with classifier-free guidance (Sanchez et al., 2023): the
first tokens of each row are drawn from the model's log-probabilities given its prompt pushed away
from those given the prompt without its rating line (rating consistency 0.50 -> 0.62 on 512 rows
with the full profile's adapter, see reports/text_lm/); guiding only the first tokens
(the title and the review's opening) kept the diversity of the text, where guiding every token
halved the share of distinct word pairs for about the same consistency. A row may not end before
a length drawn from the real ones (`length_floors`), so the texts are as long as real ones.
The adapter is merged into the model, which then runs in bfloat16 where the machine has bfloat16
kernels (`bfloat16_is_fast`: a GPU, an AVX-512 CPU), else in float32: on an AVX2-only CPU bfloat16
decodes slower than float32 (reports/precision/). int8 dynamic quantization is faster still but
triples this model's perplexity, so it is an option, not the default.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm
from transformers.cache_utils import Cache, DynamicLayer

from augment.errors import UserError
from augment.runs import read_json
from augment.text.columns import (
    ColumnControl,
    TokenMasks,
    draw_written_columns,
    empty_rates,
    skipped_first_column,
    token_masks,
)
from augment.text.models import bfloat16_is_fast, load_lm, quiet_peft
from augment.text.prompts import PromptTemplate

LENGTH_QUANTILE = 0.98  # completion-length limit: this quantile of the train completions, in tokens


@dataclass
class GenerationConfig:
    """Sampling settings of the text generator (the defaults are measured in reports/text_lm)."""
    temperature: float = 0.8
    top_p: float = 0.92
    repetition_penalty: float = 1.05  # 1.15 made texts that rarely reuse a word (module docstring)
    top_k: int = 100  # the nucleus is taken among this many most likely tokens
    batch_size: int = 64
    max_new_tokens: int | None = None  # None: from the fitted adapter's real length distribution
    precision: str = "auto"  # auto (bfloat16 where it is fast, else float32), bfloat16, float32, or int8 (loses quality)
    guidance: float = 3.0  # classifier-free guidance toward the target (1: none); see `_guide`
    guidance_tokens: int = 12  # guide only each row's first tokens: its title and the review's first words
    guidance_plausibility: float = 0.01  # guide among tokens at least this times as likely as the likeliest
    length_floor: float = 0.8  # a text may not end before this share of a length drawn from the real ones (0: any)


@dataclass
class TextModel:
    """A causal LM with its fitted adapter and prompt template (`load(folder)`); `generate_text` writes with it."""
    model: torch.nn.Module
    tokenizer: object
    template: PromptTemplate
    max_new_tokens: int
    precision: str = "bfloat16"
    empty_rates: dict[str, float] | None = None  # share of real train rows with each text column empty
    length_quantiles: list[int] | None = None  # percentiles of the real completions' lengths, in tokens

    @classmethod
    def load(cls, folder: str | Path, precision: str = "auto", device: torch.device | str = "cpu") -> TextModel:
        from peft import PeftModel

        precision = resolve_precision(precision, device)
        folder = Path(folder)
        if not (folder / "template.json").is_file():
            raise UserError(f"{folder}: no fitted text model; run `python -m augment fit DATA --out RUN --stage text`")
        meta = read_json(folder / "template.json")
        base, tokenizer = load_lm(meta["base_model"])
        with quiet_peft():
            model = PeftModel.from_pretrained(base, str(folder)).merge_and_unload()
        model.eval()
        if precision == "bfloat16":
            model = model.to(torch.bfloat16)
        elif precision == "int8":
            with warnings.catch_warnings():  # deprecated in favour of torchao, still here in torch 2.13
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        elif precision != "float32":
            raise UserError(f"precision {precision!r}: use auto, bfloat16, float32 or int8")
        if precision == "int8" and torch.device(device).type != "cpu":
            raise UserError("int8 dynamic quantization runs on CPU only; use bfloat16 on a GPU")
        template = PromptTemplate.from_dict(meta)
        return cls(model.to(device), tokenizer, template, int(meta.get("max_new_tokens", 160)), precision,
                   meta.get("empty_rates"), meta.get("length_quantiles"))


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """`precision` with "auto" made concrete: bfloat16 where `device` computes it fast, else float32."""
    if precision == "auto":
        return "bfloat16" if bfloat16_is_fast(device) else "float32"
    return precision


@dataclass
class Twins:
    """Each row's unconditional twin for guided decoding: the prompt without its target line, given
    as the number of the row's prompt tokens it shares (their keys and values are copied, not
    computed again) and the tokens that follow them (left-padded)."""

    shared: torch.Tensor  # [rows]
    suffix_ids: torch.Tensor  # [rows, width]
    suffix_mask: torch.Tensor  # [rows, width]

    @classmethod
    def build(cls, tokenizer, prompt_ids: list[list[int]], twins: list[str], device) -> Twins:
        """`prompt_ids`: the rows' prompts, tokenized; `twins`: their twins' text."""
        shared, suffixes = [], []
        for prompt, twin in zip(prompt_ids, tokenizer(twins, add_special_tokens=False)["input_ids"]):
            common = 0
            while common < min(len(prompt), len(twin) - 1) and prompt[common] == twin[common]:
                common += 1  # at least the twin's last token is its own: its logits come from there
            shared.append(common)
            suffixes.append(twin[common:])
        padded = tokenizer.pad({"input_ids": suffixes}, return_tensors="pt").to(device)
        return cls(torch.tensor(shared, device=device), padded["input_ids"], padded["attention_mask"])


@dataclass
class LengthFloor:
    """The number of tokens each row of a batch must write before it may end (`length_floors`)."""

    lengths: np.ndarray
    masks: TokenMasks

    def restrict(self, logits: torch.Tensor, alive: list[int], written: list[list[int]], eos_id: int) -> None:
        """No end of text before a row's floor; and a row kept from ending after a sentence starts a
        new word: its likeliest tokens after the end it was denied were a word's tail, glued to the
        punctuation ("so pretty!!!ortunately"), in a quarter of the texts at a floor of 0.8."""
        short = [i for i, row in enumerate(alive) if len(written[row]) < self.lengths[row]]
        logits[short, eos_id] = -torch.inf
        ended = [i for i in short if written[alive[i]] and self.masks.sentence_ends[written[alive[i]][-1]]]
        if ended:
            logits[ended] = logits[ended].masked_fill(self.masks.glued, -torch.inf)


class GrowingLayer(DynamicLayer):
    """One layer's keys and values in buffers with room to grow, each new token written in place.
    transformers' DynamicLayer concatenates the whole cache with every token: a fifth of the decode
    loop's time (2 CPU cores, float32), growing with the text's length."""

    HEADROOM = 64  # tokens of room added whenever a buffer is full

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        if not self.is_initialized:
            super().lazy_initialization(key_states, value_states)
            self.keys, self.values = key_states[..., :0, :], value_states[..., :0, :]
            self.capacity = 0
        length = self.keys.shape[-2]
        end = length + key_states.shape[-2]
        if end > self.capacity:
            self._move(end + self.HEADROOM)
        self.key_buffer[..., length:end, :] = key_states
        self.value_buffer[..., length:end, :] = value_states
        self.keys, self.values = self.key_buffer[..., :end, :], self.value_buffer[..., :end, :]
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        """Keep the batch rows `indices`, in place: only the rows whose place changes are copied.
        Copying the whole cache twice whenever a row left cost about 6% of the decode loop's time."""
        if self.get_seq_length() == 0:
            return
        if len(indices) > len(self.keys):  # rows repeated (the twins): new buffers
            self.keys, self.values = self.keys[indices], self.values[indices]
            self._move(self.capacity)
            return
        length = self.keys.shape[-2]
        moved = (indices != torch.arange(len(indices), device=indices.device)).nonzero().squeeze(1)
        if len(moved):  # the right-hand side is gathered first, so a row may move onto one that moves too
            self.key_buffer[moved, ..., :length, :] = self.keys[indices[moved]]
            self.value_buffer[moved, ..., :length, :] = self.values[indices[moved]]
        self.key_buffer, self.value_buffer = self.key_buffer[: len(indices)], self.value_buffer[: len(indices)]
        self.keys, self.values = self.key_buffer[..., :length, :], self.value_buffer[..., :length, :]

    def _move(self, capacity: int) -> None:
        """Copy the cached tokens into new buffers of `capacity` tokens."""
        length = self.keys.shape[-2]
        self.key_buffer = self.keys.new_empty(*self.keys.shape[:-2], capacity, self.keys.shape[-1])
        self.value_buffer = self.values.new_empty(*self.values.shape[:-2], capacity, self.values.shape[-1])
        self.key_buffer[..., :length, :] = self.keys
        self.value_buffer[..., :length, :] = self.values
        self.keys, self.values = self.key_buffer[..., :length, :], self.value_buffer[..., :length, :]
        self.capacity = capacity


def _prefill(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, twins: Twins | None):
    """Run the prompts through the model: the cache, each row's next-token logits, the attention
    mask and each row's next position. With twins, the cache holds the twins after the rows and
    the logits of both: a twin copies the keys and values of the tokens it shares with its row (the
    whole first line of fields) and computes only its own last tokens, so guidance doubles the
    prompt's cost only for those."""
    positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions,
                cache=Cache(layer_class_to_replicate=GrowingLayer), use_cache=True,
                logits_to_keep=_last_position(input_ids))
    cache, logits, next_position = out.cache, out.logits[:, -1].float(), attention_mask.sum(-1)
    if twins is None:
        return cache, logits, attention_mask, next_position
    rows = len(input_ids)
    cache.batch_select_indices(torch.arange(rows, device=input_ids.device).repeat(2))
    columns = torch.arange(attention_mask.shape[1], device=input_ids.device)
    start = attention_mask.shape[1] - next_position  # each row's left padding
    shared = (columns >= start[:, None]) & (columns < (start + twins.shared)[:, None])
    mask = torch.cat([torch.cat([attention_mask, torch.zeros_like(twins.suffix_mask)], dim=1),
                      torch.cat([shared.to(attention_mask.dtype), twins.suffix_mask], dim=1)])
    suffix_positions = (twins.shared[:, None] + twins.suffix_mask.cumsum(-1) - 1).clamp(min=0)
    out = model(input_ids=torch.cat([torch.zeros_like(twins.suffix_ids), twins.suffix_ids]),  # rows: masked filler
                attention_mask=mask, position_ids=torch.cat([torch.zeros_like(suffix_positions), suffix_positions]),
                cache=cache, use_cache=True, logits_to_keep=_last_position(twins.suffix_ids))
    logits = torch.cat([logits, out.logits[rows:, -1].float()])
    return out.cache, logits, mask, torch.cat([next_position, twins.shared + twins.suffix_mask.sum(-1)])


def _last_position(input_ids: torch.Tensor) -> torch.Tensor:
    """`logits_to_keep` for the last position only, as an index rather than the count 1: with the
    count the merged model projected a strided slice of its hidden states onto the vocabulary,
    which torch (2.13, CPU, bfloat16) ran as a batched matmul over a copy of the projection: 2.3 s
    for 64 rows against 6 ms for the gathered (contiguous) slice, most of the prompts' cost."""
    return torch.tensor([input_ids.shape[1] - 1], device=input_ids.device)


def decode(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, max_new: int, eos_id: int,
           config: GenerationConfig, generator: torch.Generator, exempt: list[int] = (),
           control: ColumnControl | None = None, twins: Twins | None = None,
           floor: LengthFloor | None = None) -> list[list[int]]:
    """Sample up to `max_new` tokens per left-padded prompt; finished rows leave the batch.

    The repetition penalty counts only the tokens a row has written, never the template's own
    (`exempt`: the newline and labels between text columns): penalized, those lost to the end of
    text, and rows stopped after their title. `control` keeps each row's text columns empty or
    written as drawn. With `twins` (the prompts without their target), the first
    `config.guidance_tokens` tokens are sampled with classifier-free guidance. `floor`: how many tokens
    each row must write before it may end."""
    rows, device, guided = len(input_ids), input_ids.device, twins is not None
    cache, logits, attention_mask, next_position = _prefill(model, input_ids, attention_mask, twins)
    history = torch.empty(rows, 0, dtype=torch.long, device=device)  # the tokens each row has written
    penalized = torch.ones(logits.shape[-1], dtype=torch.bool, device=device)
    penalized[list(exempt)] = False
    alive = torch.arange(rows, device=device)
    written: list[list[int]] = [[] for _ in range(rows)]
    for step in range(max_new):
        logits, unconditional = (logits.chunk(2) if guided else (logits, None))
        if control is not None:
            control.restrict(logits, alive.tolist())
        if floor is not None:
            floor.restrict(logits, alive.tolist(), written, eos_id)
        if guided:
            logits = _guide(logits, unconditional, config.guidance, config.guidance_plausibility)
        token = _sample(_penalize(logits, history, penalized, config.repetition_penalty), config, generator)
        for row, t in zip(alive.tolist(), token.tolist()):
            written[row].append(t)
        history = torch.cat([history, token[:, None]], dim=1)
        keep = token != eos_id
        if control is not None:
            keep &= ~torch.tensor(control.advance(alive.tolist(), written), device=device)
        if step == max_new - 1 or not keep.any():
            break
        stop_guiding = guided and step + 1 >= config.guidance_tokens
        if not keep.all() or stop_guiding:
            index = keep.nonzero().squeeze(1)
            alive, token, history = alive[index], token[index], history[index]
            if guided and not stop_guiding:  # the unconditional twins follow their rows
                index = torch.cat([index, index + len(keep)])
            guided = guided and not stop_guiding
            cache.batch_select_indices(index)
            attention_mask, next_position = attention_mask[index], next_position[index]
        inputs = torch.cat([token, token]) if guided else token
        ones = torch.ones(len(inputs), 1, dtype=attention_mask.dtype, device=device)
        attention_mask = torch.cat([attention_mask, ones], dim=1)
        out = model(input_ids=inputs[:, None], attention_mask=attention_mask, position_ids=next_position[:, None],
                    cache=cache, use_cache=True)
        cache, logits = out.cache, out.logits[:, -1].float()
        next_position = next_position + 1
    return [[t for t in ids if t != eos_id] for ids in written]


def _guide(conditional: torch.Tensor, unconditional: torch.Tensor, scale: float, plausibility: float) -> torch.Tensor:
    """Classifier-free guidance over log-probabilities: each row pushed away from its unconditional
    twin, `scale` times as far (1: no guidance), among the tokens the conditional model finds
    plausible (at least `plausibility` times its likeliest token's probability). Unconstrained, the
    push rewards tokens both models find absurd but one less so ("queeze", "theless" for a title's
    line break)."""
    conditional, unconditional = torch.log_softmax(conditional, -1), torch.log_softmax(unconditional, -1)
    implausible = conditional < conditional.max(-1, keepdim=True).values + math.log(plausibility)
    guided = unconditional + scale * (conditional - unconditional)
    return guided.masked_fill(implausible, -torch.inf)


def _penalize(logits: torch.Tensor, history: torch.Tensor, penalized: torch.Tensor, penalty: float) -> torch.Tensor:
    """CTRL-style repetition penalty, once per distinct token a row has written (`history`, one row of
    token ids per batch row) among the `penalized` ones. Only those tokens' logits are read and
    written: a pass over the whole 49k-token vocabulary for every row and step cost more than the
    sampling itself."""
    if history.shape[1] == 0 or penalty == 1.0:
        return logits
    before = logits.gather(1, history)  # a token written twice is read twice and penalized once
    after = torch.where(penalized[history], torch.where(before > 0, before / penalty, before * penalty), before)
    return logits.scatter(1, history, after)


def _sample(logits: torch.Tensor, config: GenerationConfig, generator: torch.Generator) -> torch.Tensor:
    """Temperature, nucleus (top-p) sampling within the top-k tokens.

    Sorting and drawing over the whole 49k-token vocabulary for every row and step cost a third of
    generation time; the nucleus is taken among the `top_k` most likely tokens instead."""
    top_logits, top_tokens = logits.topk(min(config.top_k, logits.shape[-1]), dim=-1)  # sorted, descending
    probs = torch.softmax(top_logits / config.temperature, dim=-1)
    outside = probs.cumsum(-1) - probs > config.top_p  # keep the smallest set reaching top_p
    probs = probs.masked_fill(outside, 0.0)
    choice = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return top_tokens.gather(1, choice[:, None]).squeeze(1)


def real_text_facts(tokenizer, template: PromptTemplate, train: pd.DataFrame) -> dict:
    """What generation takes from the real train text: the length limit and the percentiles of the
    lengths of completions that write their last column (tokens), and how often each text column
    is empty (see `augment.text.columns`)."""
    sample = train.head(5000)
    completions = [template.completion(row) for _, row in sample.iterrows()]
    lengths = np.array([len(ids) for ids in tokenizer(completions, add_special_tokens=False)["input_ids"]])
    last = sample[template.text_columns[-1]]
    written = lengths[(last.notna() & (last.astype(str).str.strip() != "")).to_numpy()]
    return {"max_new_tokens": int(np.quantile(lengths, LENGTH_QUANTILE)) + 1,
            "length_quantiles": np.quantile(written if len(written) else lengths, np.linspace(0, 1, 101))
                                .round().astype(int).tolist(),
            "empty_rates": empty_rates(template, train)}


def length_floors(quantiles: list[int] | None, share: float, writes_last: np.ndarray, seed: int) -> np.ndarray | None:
    """How many tokens each row must write before it may end: `share` of a length drawn from the
    real completions' (0 for a row whose last column is drawn empty). Without a floor the end of
    text wins early: the texts were 60% of the real length (37 words against 62 in the text
    benchmark, repetition penalty 1.15; at 1.05 still 41 against 59 in an exploratory run of 256 rows)."""
    if not quantiles or share <= 0:
        return None
    drawn = np.interp(np.random.default_rng([seed, 1]).random(len(writes_last)), np.linspace(0, 1, len(quantiles)),
                      quantiles)
    return np.where(writes_last, np.floor(share * drawn), 0).astype(int)


@torch.no_grad()
def generate_text(text_model: TextModel, rows: pd.DataFrame, config: GenerationConfig, seed: int = 0,
                  progress: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """`rows` with their text columns written, and the raw completions (in row order)."""
    tokenizer, template = text_model.tokenizer, text_model.template
    device = next(text_model.model.parameters()).device
    missing = [f for f in template.inputs if f not in rows.columns]
    if missing:
        raise UserError(f"rows lack the fields the text model was fit on: {', '.join(missing)}")
    # Which text columns each row leaves empty, drawn at the real rates; an empty first one goes in the prompt.
    columns, rates = template.text_columns, text_model.empty_rates
    writes = draw_written_columns(columns, rates, len(rows), seed)
    skipped = skipped_first_column(template)
    guided = config.guidance != 1.0 and config.guidance_tokens > 0 and template.target is not None
    prompts, unconditional = [], []  # the latter: the prompts without their target, for guidance
    for (_, row), write in zip(rows.iterrows(), writes[:, 0]):
        prompts.append(template.prompt(row) + ("" if write else skipped))
        if guided:
            unconditional.append(template.prompt(row, with_target=False) + ("" if write else skipped))
    first_column = (~writes[:, 0]).astype(int) if len(columns) > 1 else np.zeros(len(rows), int)
    floors = length_floors(text_model.length_quantiles, config.length_floor, writes[:, -1], seed)
    prompt_ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    # Batches of rows that end about together: a row writes a little past its length floor, and a
    # batch runs until its last row ends, its few last rows at nearly the cost of a full batch.
    prompt_lengths = [len(ids) for ids in prompt_ids]
    order = np.lexsort((prompt_lengths,) if floors is None else (prompt_lengths, floors))
    completions = ["" if write else skipped for write in writes[:, 0]]
    todo = order[writes[order].any(axis=1)]  # rows with every column drawn empty: nothing to write
    max_new = config.max_new_tokens or text_model.max_new_tokens
    labels = tokenizer([f"\n{name}:" for name in template.text_columns[1:]], add_special_tokens=False)["input_ids"] \
        if len(template.text_columns) > 1 else []
    exempt = sorted({token for ids in labels for token in ids})
    batches = [todo[i : i + config.batch_size] for i in range(0, len(todo), config.batch_size)]
    masks = TokenMasks(*(mask.to(device) for mask in token_masks(tokenizer))) \
        if rates is not None or floors is not None else None
    for index, batch in enumerate(tqdm(batches, desc="writing text", unit="batch", disable=not progress)):
        generator = torch.Generator(device).manual_seed(seed * 100_003 + index)  # same rows and seed, same text
        encoded = tokenizer.pad({"input_ids": [prompt_ids[i] for i in batch]}, return_tensors="pt").to(device)
        twins = Twins.build(tokenizer, [prompt_ids[i] for i in batch], [unconditional[i] for i in batch], device) \
            if guided else None
        control = ColumnControl(template, tokenizer, writes[batch], first_column[batch], masks.line_breaks,
                                masks.blanks) if rates is not None else None
        tokens = decode(text_model.model, encoded["input_ids"], encoded["attention_mask"], max_new,
                        tokenizer.eos_token_id, config, generator, exempt, control, twins,
                        None if floors is None else LengthFloor(floors[batch], masks))
        for i, ids in zip(batch, tokens):
            completions[i] += tokenizer.decode(ids, skip_special_tokens=True)
    out = rows.copy()
    parsed = [template.parse(c) for c in completions]
    for name in template.text_columns:
        out[name] = [p[name] for p in parsed]
    return out, completions
