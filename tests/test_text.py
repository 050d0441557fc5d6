"""The text generator with the real SmolLM2 model: tiny step counts, few rows, short texts."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import load_file

from augment.schema import detect_schema
from augment.text import lora
from augment.text.columns import ColumnControl, empty_rates, token_masks
from augment.text.gates import CopyIndex, joined_text, text_gates
from augment.text.generate import GenerationConfig, TextModel, generate_text
from augment.text.lora import IGNORE, TextConfig, build_examples, collate, completion_loss, dropped_rows, fit_text
from augment.text.models import load_lm
from augment.text.prompts import PromptTemplate

TINY = TextConfig(steps=2, batch_size=2, max_tokens=64, eval_every=2, eval_rows=4, checkpoint_every=1)


@pytest.fixture(scope="module")
def template(clothing_sample):
    return PromptTemplate.from_schema(detect_schema(clothing_sample))


@pytest.fixture(scope="module")
def tokenizer():
    return load_lm()[1]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory, clothing_sample, template):
    out = tmp_path_factory.mktemp("text")
    fit_text(clothing_sample.iloc[:16], clothing_sample.iloc[16:24], template, out, TINY, seed=0, progress=False)
    return out


def test_prompt_round_trip(clothing_sample, template):
    assert template.fields[0] == "Age" and "Clothing ID" not in template.fields and template.target == "Rating"
    assert template.prompt(clothing_sample.iloc[0].to_dict() | {"Rating": 2}).endswith(
        "\nRating: 2 out of 5 (negative)\nTitle:")
    for _, row in clothing_sample.head(50).iterrows():
        parsed = template.parse(template.completion(row))
        for name in ("Title", "Review Text"):
            expected = None if pd.isna(row[name]) else " ".join(str(row[name]).split()) or None
            assert parsed[name] == expected


def test_chat_prompt_asks_the_rows_lines_in_the_models_chat_template(clothing_sample, template, tokenizer,
                                                                     tmp_path):
    chat = template.in_chat(tokenizer)
    row = clothing_sample.iloc[0].to_dict() | {"Rating": 2}
    prompt = chat.prompt(row)
    assert prompt.startswith("<|im_start|>") and prompt.endswith("<|im_start|>assistant\nTitle:")
    assert template.prompt(row).removesuffix("\nTitle:") in prompt  # the same lines, inside the request
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3  # read as the model's own markers
    assert "Rating:" not in chat.prompt(row, with_target=False) and chat.completion(row) == template.completion(row)
    fit_text(clothing_sample.iloc[:16], clothing_sample.iloc[16:24], template, tmp_path, replace(TINY, prompt="chat"),
             seed=0, progress=False)
    assert TextModel.load(tmp_path / "adapter").template == chat  # generation asks as fitting did


def test_loss_only_on_completion_tokens(clothing_sample, template, tokenizer):
    rows = clothing_sample.head(3)
    examples = build_examples(tokenizer, template, rows, max_tokens=400)
    batch = collate(examples, tokenizer.pad_token_id)
    for i, (example, (_, row)) in enumerate(zip(examples, rows.iterrows())):
        labels = batch["labels"][i]
        assert (labels[: example.prompt_length] == IGNORE).all()
        assert (labels[len(example.input_ids):] == IGNORE).all()  # padding
        learned = labels[labels != IGNORE].tolist()
        assert tokenizer.decode(learned[:-1]) == template.completion(row)
        assert learned[-1] == tokenizer.eos_token_id


def test_completion_loss_is_the_models_own_loss(clothing_sample, template, tokenizer):
    """Projecting only the positions that predict a completion token gives the loss the model
    computes over all its logits."""
    model = load_lm()[0].eval()
    batch = collate(build_examples(tokenizer, template, clothing_sample.head(4), max_tokens=96), tokenizer.pad_token_id)
    with torch.no_grad():
        total, count = completion_loss(model, batch)
        reference = model(**batch).loss
    assert count == int((batch["labels"][:, 1:] != IGNORE).sum())
    assert torch.allclose(total / count, reference, rtol=1e-5)


def test_chunked_projection_has_the_models_own_gradient(monkeypatch, clothing_sample, template, tokenizer):
    """Projected a few positions at a time, each chunk recomputed in the backward pass, the loss's
    gradient is the one the model's own loss over all its logits gives."""
    monkeypatch.setattr(lora, "LOSS_CHUNK", 64)
    model = load_lm()[0].eval()
    batch = collate(build_examples(tokenizer, template, clothing_sample.head(4), max_tokens=96), tokenizer.pad_token_id)
    weight = model.model.layers[-1].mlp.down_proj.weight
    total, count = completion_loss(model, batch)
    assert count > 2 * lora.LOSS_CHUNK  # several chunks
    (chunked,) = torch.autograd.grad(total / count, weight)
    (reference,) = torch.autograd.grad(model(**batch).loss, weight)
    assert torch.allclose(chunked, reference, rtol=1e-4, atol=1e-7)


def test_gradient_checkpointing_changes_memory_not_the_adapter(tmp_path, clothing_sample, template):
    one_step = {**TINY.__dict__, "steps": 1, "eval_every": 1, "lora_dropout": 0.0, "mixed_precision": False}
    adapters = []
    for checkpointing in (True, False):
        out = tmp_path / str(checkpointing)
        fit_text(clothing_sample.iloc[:16], clothing_sample.iloc[16:24], template, out,
                 TextConfig(**one_step | {"gradient_checkpointing": checkpointing}), seed=2, progress=False)
        adapters.append(load_file(str(out / "adapter" / "adapter_model.safetensors")))
    assert adapters[0].keys() == adapters[1].keys()
    for name in adapters[0]:
        assert torch.allclose(adapters[0][name], adapters[1][name], atol=1e-6), name


def test_condition_dropout_shows_some_rows_without_their_target(clothing_sample, template, tokenizer):
    rows = clothing_sample.head(3)
    full, dropped = (build_examples(tokenizer, template, rows, 400, with_target=w) for w in (True, False))
    for a, b in zip(full, dropped):
        assert "Rating:" in tokenizer.decode(a.input_ids[: a.prompt_length])
        assert "Rating:" not in tokenizer.decode(b.input_ids[: b.prompt_length])
        assert a.input_ids[a.prompt_length :] == b.input_ids[b.prompt_length :]  # the same completion
    draws = np.concatenate([dropped_rows(8, 0.1, seed=0, step=s) for s in range(500)])
    assert 0.08 < draws.mean() < 0.12
    assert (dropped_rows(8, 0.1, 0, 7) == dropped_rows(8, 0.1, 0, 7)).all()  # a resumed fit drops the same rows
    assert not dropped_rows(8, 0.0, 0, 7).any()


def test_generation_is_seeded(adapter, clothing_sample, template):
    model = TextModel.load(adapter / "adapter")
    rows = clothing_sample.iloc[30:34].drop(columns=template.text_columns)
    config = GenerationConfig(max_new_tokens=12, batch_size=4)
    first, raw_first = generate_text(model, rows, config, seed=3, progress=False)
    again, raw_again = generate_text(model, rows, config, seed=3, progress=False)
    _other, raw_other = generate_text(model, rows, config, seed=4, progress=False)
    assert raw_first == raw_again
    assert raw_first != raw_other
    pd.testing.assert_frame_equal(first, again)
    assert list(first.columns) == list(rows.columns) + template.text_columns


@pytest.mark.parametrize("fast", [True, False])
def test_auto_precision_is_bfloat16_only_where_the_machine_computes_it_fast(monkeypatch, adapter, fast):
    """On a CPU without bfloat16 kernels (AVX2 only) bfloat16 ran about 100x slower than float32."""
    from augment.sample import generation_config
    from augment.text import generate

    monkeypatch.setattr(generate, "bfloat16_is_fast", lambda device: fast)
    model = TextModel.load(adapter / "adapter")
    assert model.precision == generation_config().precision == ("bfloat16" if fast else "float32")
    assert next(model.model.parameters()).dtype == (torch.bfloat16 if fast else torch.float32)


def test_empty_columns_are_drawn_at_the_real_rates(adapter, clothing_sample, template):
    model = TextModel.load(adapter / "adapter")
    assert model.empty_rates == empty_rates(template, clothing_sample.iloc[:16])
    rows = clothing_sample.iloc[30:38].drop(columns=template.text_columns)
    config = GenerationConfig(max_new_tokens=8, batch_size=8)
    for title, review in ((False, True), (True, False)):
        model.empty_rates = {"Title": 0.0 if title else 1.0, "Review Text": 0.0 if review else 1.0}
        written, _ = generate_text(model, rows, config, seed=0, progress=False)
        assert (written["Title"].notna() == title).all()
        assert (written["Review Text"].notna() == review).all()


def test_texts_do_not_end_before_their_length_floor(adapter, clothing_sample, template):
    model = TextModel.load(adapter / "adapter")
    assert len(model.length_quantiles) == 101 and model.length_quantiles == sorted(model.length_quantiles)
    model.empty_rates = {"Title": 1.0, "Review Text": 0.0}  # straight to the review, where the text may end
    model.length_quantiles = [20] * 101  # every drawn length is 20 tokens
    rows = clothing_sample.iloc[30:38].drop(columns=template.text_columns)
    eager = torch.zeros(len(model.tokenizer))
    eager[model.tokenizer.eos_token_id] = 30.0  # the model would end each text as soon as it may
    model.model.lm_head.register_forward_hook(lambda module, inputs, output: output + eager.to(output.dtype))
    lengths = {}
    for share in (0.0, 1.0):
        _, raw = generate_text(model, rows, GenerationConfig(max_new_tokens=24, batch_size=8, length_floor=share),
                               seed=1, progress=False)
        lengths[share] = [len(ids) for ids in model.tokenizer(raw, add_special_tokens=False)["input_ids"]]
    assert min(lengths[1.0]) >= 19  # within a token: decoding and encoding again may merge two
    assert max(lengths[0.0]) < 19


def encoded_lists(tokenizer, texts):
    return tokenizer(texts, add_special_tokens=False)["input_ids"]


def test_twins_reuse_the_prompt_they_share(template, tokenizer, clothing_sample):
    """A twin's logits from the shared keys and values plus its own last tokens are those of its
    prompt run alone."""
    from augment.text.generate import Twins, _prefill

    model = load_lm()[0].eval()
    rows = [row for _, row in clothing_sample.iloc[40:43].iterrows()]
    prompts, bare = [template.prompt(r) for r in rows], [template.prompt(r, with_target=False) for r in rows]
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    twins = Twins.build(tokenizer, encoded_lists(tokenizer, prompts), bare, "cpu")
    assert (twins.shared > 10).all()  # the line of fields is shared
    with torch.no_grad():
        _, logits, _, _ = _prefill(model, encoded["input_ids"], encoded["attention_mask"], twins)
        for i, prompt in enumerate(prompts + bare):
            alone = model(**tokenizer([prompt], return_tensors="pt", add_special_tokens=False)).logits[0, -1]
            assert torch.allclose(logits[i], alone, atol=1e-3), i


def test_guidance_keeps_each_row_with_its_twin(template, tokenizer, clothing_sample):
    """Twins with their rows' own prompts leave nothing to guide toward: guided decoding must then
    write exactly what unguided decoding writes, also after rows leave the batch (a row paired with
    another row's twin would be pushed off its own text)."""
    from augment.text.generate import Twins, decode

    model = load_lm()[0].eval()
    prompts = [template.prompt(row) for _, row in clothing_sample.iloc[40:44].iterrows()]
    encoded = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    twins = Twins.build(tokenizer, encoded_lists(tokenizer, prompts), prompts, "cpu")
    config = GenerationConfig(repetition_penalty=1.0, guidance=3.0, guidance_plausibility=1e-9)

    def run(guided, end):
        with torch.no_grad():
            return decode(model, encoded["input_ids"], encoded["attention_mask"], 10, end, config,
                          torch.Generator().manual_seed(0), twins=twins if guided else None)

    first = run(False, -1)
    end = first[0][2]  # a token row 0 writes early: that row (and any other writing it) leaves the batch
    plain = run(False, end)
    assert len(plain[0]) < 10 and max(len(ids) for ids in plain) == 10
    assert run(True, end) == plain


def test_growing_cache_holds_what_the_dynamic_cache_holds(monkeypatch):
    """Tokens written in place into buffers that grow, rows dropped between steps: the logits are
    those of transformers' own cache (a tiny random Llama, so the buffers fill and grow often)."""
    from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM
    from transformers.cache_utils import Cache

    from augment.text.generate import GrowingLayer

    monkeypatch.setattr(GrowingLayer, "HEADROOM", 3)
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=4, num_key_value_heads=2)).eval()
    ids = torch.randint(1, 50, (5, 7))
    mask = torch.ones_like(ids)
    mask[1, :3] = mask[3, :1] = 0  # left padding
    caches = [DynamicCache(), Cache(layer_class_to_replicate=GrowingLayer)]
    with torch.no_grad():
        for step, keep in enumerate([None, None, [0, 1, 3, 4], None, [1, 2, 3], None, [0, 2], None]):
            if keep is not None:
                for cache in caches:
                    cache.batch_select_indices(torch.tensor(keep))
                ids, mask = ids[keep], mask[keep]
            positions = (mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1]:] if step == 0 else \
                mask.sum(-1, keepdim=True) - 1
            logits = [model(input_ids=ids, attention_mask=mask, position_ids=positions, cache=cache,
                            use_cache=True).logits[:, -1] for cache in caches]
            torch.testing.assert_close(logits[1], logits[0], msg=f"step {step}")
            ids = logits[0].argmax(-1, keepdim=True)
            mask = torch.cat([mask, torch.ones_like(ids)], dim=1)
    assert caches[1].layers[0].capacity > 7 + 3  # the buffers grew


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 6), st.integers(0, 12), st.floats(1.0, 2.0), st.integers(0, 2**31 - 1))
def test_repetition_penalty_changes_only_the_written_tokens_once(rows, written, penalty, seed):
    """The penalty read from each row's written tokens is the CTRL rule applied over the whole
    vocabulary: each written token (not exempt) penalized once, however often it was written."""
    from augment.text.generate import _penalize

    generator = torch.Generator().manual_seed(seed)
    vocab = 20
    logits = torch.randn(rows, vocab, generator=generator) * 3
    history = torch.randint(0, vocab, (rows, written), generator=generator)
    penalized = torch.rand(vocab, generator=generator) > 0.2
    seen = torch.zeros(rows, vocab, dtype=torch.bool)
    seen.scatter_(1, history, True)
    seen &= penalized
    expected = torch.where(seen, torch.where(logits > 0, logits / penalty, logits * penalty), logits)
    torch.testing.assert_close(_penalize(logits, history, penalized, penalty), expected)


def test_guidance_prefers_what_the_condition_makes_likelier():
    from augment.text.generate import _guide

    conditional = torch.log(torch.tensor([[0.5, 0.3, 0.199, 0.001]]))
    unconditional = torch.log(torch.tensor([[0.7, 0.1, 0.1, 0.1]]))
    guided = _guide(conditional, unconditional, 3.0, plausibility=0.01)
    assert guided[0, 1] > guided[0, 0]  # three times likelier given the condition: now first
    assert torch.isinf(guided[0, 3])  # below a hundredth of the likeliest: out, however it gains
    assert torch.allclose(_guide(conditional, unconditional, 1.0, 0.01)[0, :3], conditional[0, :3])


def test_column_control_keeps_drawn_columns_written(template, tokenizer):
    eos, space, newline = tokenizer.eos_token_id, *tokenizer(" \nReview")["input_ids"][:2]
    writes = np.array([[True, True], [False, False], [True, False]])
    breaks, blanks, sentence_ends, glued = token_masks(tokenizer)
    assert sentence_ends[tokenizer("!!!")["input_ids"][-1]] and not sentence_ends[tokenizer(" I")["input_ids"][0]]
    assert glued[tokenizer("!!!ortunately")["input_ids"][-1]] and not glued[tokenizer(" I")["input_ids"][0]]
    assert breaks[newline] and breaks[tokenizer(".\n\n")["input_ids"][-1]] and not breaks[space]
    assert blanks[space] and blanks[newline] and not blanks[tokenizer(" I")["input_ids"][0]]
    control = ColumnControl(template, tokenizer, writes, np.array([0, 1, 0]), breaks, blanks)

    def banned():
        logits = torch.zeros(3, len(tokenizer))
        control.restrict(logits, [0, 1, 2])
        return [{int(t) for t in torch.isinf(row).nonzero()} for row in logits]

    every_break, every_blank = {int(t) for t in breaks.nonzero()}, {int(t) for t in blanks.nonzero()}
    # at the start: titles must begin with a visible character; row 1's review (last column) is drawn empty
    assert banned() == [{eos} | every_blank, every_break, {eos} | every_blank]
    control.advance([0, 1, 2], [[space], [], [space]])
    assert banned()[0] == {eos} | every_blank  # a space is not yet a title
    control.advance([0, 1, 2], [tokenizer(" Nice")["input_ids"]] * 3)
    assert banned()[0] == {eos}  # begun; no end of text before the review
    label = tokenizer(" Nice\nReview Text:")["input_ids"]
    assert control.advance([0, 1, 2], [label, [], label]) == [False, False, True]  # row 2's review: drawn empty
    assert control.column.tolist() == [1, 1, 1] and not control.begun[0]
    assert banned()[0] == {eos} | every_blank | every_break


def test_copies_are_caught(clothing_sample):
    train = clothing_sample.iloc[:200]
    columns = ["Title", "Review Text"]
    generated = train.iloc[:5].copy()
    generated.iloc[1, generated.columns.get_loc("Review Text")] = "A brand new text that no one wrote before, truly."
    words = str(train.iloc[3]["Review Text"]).split()
    generated.iloc[3, generated.columns.get_loc("Review Text")] = " ".join(words[:-1] + ["zebra"])
    gates, summary = text_gates(generated, train, clothing_sample.iloc[200:300], columns, "Rating")
    assert gates["text_exact_copy"].tolist() == [True, False, True, False, True]
    assert gates.loc[generated.index[3], "text_near_copy"]
    assert summary["exact_copies"] == 3
    assert summary["rating_consistency_real_validation"] > 0.3
    index = CopyIndex(joined_text(train, columns))
    assert index.overlap("short") == 0.0


def test_resume_from_checkpoint_equals_uninterrupted(tmp_path, clothing_sample, template):
    train, validation = clothing_sample.iloc[:16], clothing_sample.iloc[16:24]
    straight = TextConfig(**{**TINY.__dict__, "steps": 4, "eval_every": 4})
    fit_text(train, validation, template, tmp_path / "a", straight, seed=1, progress=False)
    # "Killed" after step 2: the same fit asked for only 2 steps leaves a checkpoint at step 2.
    fit_text(train, validation, template, tmp_path / "b", TextConfig(**{**straight.__dict__, "steps": 2}),
             seed=1, progress=False)
    resumed = fit_text(train, validation, template, tmp_path / "b", straight, seed=1, progress=False)
    assert [h["step"] for h in resumed.history] == [1, 2, 3, 4]
    a = load_file(str(tmp_path / "a" / "checkpoint" / "adapter.safetensors"))
    b = load_file(str(tmp_path / "b" / "checkpoint" / "adapter.safetensors"))
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_warm_start_from_an_earlier_adapter(tmp_path, adapter, clothing_sample, template):
    frozen = TextConfig(**{**TINY.__dict__, "steps": 1, "eval_every": 1, "learning_rate": 0.0})
    fit_text(clothing_sample.iloc[40:56], clothing_sample.iloc[16:24], template, tmp_path, frozen, seed=5,
             progress=False, init_adapter=adapter / "adapter")
    old = load_file(str(adapter / "adapter" / "adapter_model.safetensors"))
    new = load_file(str(tmp_path / "adapter" / "adapter_model.safetensors"))
    assert old.keys() == new.keys()
    assert all(torch.equal(old[k], new[k]) for k in old)
