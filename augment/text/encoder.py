"""Sentence embeddings with the MiniLM encoder (mean pooling, unit length), for the filter and the report."""

from __future__ import annotations

import numpy as np
import torch

from augment.text.models import DEFAULT_ENCODER, resolve_encoder

_LOADED: dict[str, tuple] = {}


def load_encoder(name: str = DEFAULT_ENCODER):
    """The sentence encoder's model and tokenizer, loaded once per process."""
    from transformers import AutoModel, AutoTokenizer

    if name not in _LOADED:  # one copy per process: the filter and the report both embed
        path = resolve_encoder(name)
        _LOADED[name] = (AutoModel.from_pretrained(path).eval(), AutoTokenizer.from_pretrained(path))
    return _LOADED[name]


@torch.no_grad()
def embed(texts: list[str], name: str = DEFAULT_ENCODER, batch_size: int = 64, max_tokens: int = 128) -> np.ndarray:
    """One unit-length 384-d row per text; an empty text embeds as the empty string does."""
    model, tokenizer = load_encoder(name)
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths share a batch
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    for start in range(0, len(texts), batch_size):
        index = order[start : start + batch_size]
        encoded = tokenizer([texts[i] for i in index], padding=True, truncation=True, max_length=max_tokens,
                            return_tensors="pt")
        hidden = model(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        out[index] = torch.nn.functional.normalize(pooled, dim=1).numpy()
    return out
