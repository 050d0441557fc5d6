"""Rating learners with one interface: `fit(texts, y, validation, aux)` then `predict(texts)`.

- "tfidf": TF-IDF + ridge, the regularization chosen on the validation split (fast, classic).
- "zero-shot": frozen MiniLM sentence embeddings + ridge (what fine-tuning has to beat).
- "finetune": MiniLM with a regression head, fit with MSE; early stopping keeps the epoch with the
  best validation RMSE. Options: `aux` (multi-task with a binary auxiliary target such as
  Recommended IND), `fgm` (adversarial training: a gradient-direction step on the word embeddings,
  Miyato et al.), `lora` (peft LoRA on the attention instead of updating every weight), and
  `first_pass` (two-stage training: one pass over some rows, e.g. the synthetic ones, then the
  epochs over the others).
  Under torchrun each process takes its share of every batch and the gradients are averaged
  across processes before each step (torch.distributed all-reduce), so the model is the same on
  every rank; rank 0 scores the validation split and tells the others.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from augment.distributed import World
from augment.text.models import DEFAULT_ENCODER, quiet_peft, resolve_encoder

RIDGE_ALPHAS = (0.3, 1.0, 3.0, 10.0)


def rmse(predicted, actual) -> float:
    """Root mean squared error."""
    return float(np.sqrt(np.mean((np.asarray(predicted, float) - np.asarray(actual, float)) ** 2)))


class TfidfRidge:
    """Rating regressor: TF-IDF of words and word pairs, then ridge regression."""
    def fit(self, texts: list[str], y: np.ndarray, validation: tuple[list[str], np.ndarray], aux=None) -> TfidfRidge:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import Ridge

        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
        features = self.vectorizer.fit_transform(texts)
        val_features = self.vectorizer.transform(validation[0])
        fits = [Ridge(alpha=a).fit(features, y) for a in RIDGE_ALPHAS]
        self.model = min(fits, key=lambda m: rmse(m.predict(val_features), validation[1]))
        return self

    def predict(self, texts: list[str]) -> np.ndarray:
        return self.model.predict(self.vectorizer.transform(texts))


class FrozenEmbeddingRidge:
    """Rating regressor: ridge regression on a frozen sentence encoder's embeddings."""
    def __init__(self, encoder: str = DEFAULT_ENCODER):
        self.encoder = encoder

    def fit(self, texts, y, validation, aux=None) -> FrozenEmbeddingRidge:
        from sklearn.linear_model import Ridge

        from augment.text.encoder import embed

        features, val_features = embed(texts, self.encoder), embed(validation[0], self.encoder)
        fits = [Ridge(alpha=a).fit(features, y) for a in RIDGE_ALPHAS]
        self.model = min(fits, key=lambda m: rmse(m.predict(val_features), validation[1]))
        return self

    def predict(self, texts) -> np.ndarray:
        from augment.text.encoder import embed

        return self.model.predict(embed(texts, self.encoder))


@dataclass
class FineTuneConfig:
    """Settings of the fine-tuned encoder: the encoder, epochs, batch, learning rate, token cap."""
    encoder: str = DEFAULT_ENCODER
    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 5e-5
    max_tokens: int = 128
    aux_weight: float = 0.5
    fgm_epsilon: float = 0.0  # > 0 turns on adversarial training
    lora: bool = False
    length_groups: int = 50  # batches per group of rows sorted by length (1: plain random batches)


class FineTunedEncoder:
    """Rating regressor: a pretrained sentence encoder fine-tuned end to end with a linear head."""
    def __init__(self, config: FineTuneConfig | None = None, seed: int = 0, progress: bool = False,
                 world: World | None = None):
        self.config, self.seed, self.progress = config or FineTuneConfig(), seed, progress
        self.world = world or World()

    def fit(self, texts, y, validation, aux=None, first_pass=None) -> FineTunedEncoder:
        """`first_pass`: a mask of rows trained on in one pass of their own before the epochs over the
        other rows; the best validation pass is kept, the first one included."""
        from transformers import AutoModel, AutoTokenizer

        cfg = self.config
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        path = resolve_encoder(cfg.encoder)
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        encoder = AutoModel.from_pretrained(path)
        if cfg.lora:
            from peft import LoraConfig, get_peft_model

            with quiet_peft():
                encoder = get_peft_model(encoder, LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"]))
        hidden = encoder.config.hidden_size
        self.model = torch.nn.ModuleDict({"encoder": encoder, "head": torch.nn.Linear(hidden, 1),
                                          "aux": torch.nn.Linear(hidden, 1)}).to(self.world.device)
        world = self.world
        if world.size > 1:
            torch.manual_seed(self.seed * 1009 + world.rank)  # the same weights, each rank its own dropout
        self.centre, self.scale = float(np.mean(y)), float(np.std(y)) or 1.0  # the head predicts z-scores
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate if not cfg.lora else cfg.learning_rate * 10)
        target = torch.tensor((np.asarray(y, float) - self.centre) / self.scale, dtype=torch.float32,
                              device=world.device)
        aux_target = torch.tensor(np.asarray(aux, float), dtype=torch.float32, device=world.device) \
            if aux is not None else None
        best, best_state = np.inf, None
        lengths = self.token_counts(texts)
        rows = np.arange(len(texts))
        passes = [rows] * cfg.epochs
        if first_pass is not None:
            first_pass = np.asarray(first_pass, bool)
            passes = [rows[first_pass]] + [rows[~first_pass]] * cfg.epochs
        for subset in tqdm(passes, desc="fine-tune", unit="epoch", disable=not self.progress):
            self.model.train()
            for batch in length_grouped_batches(lengths[subset], cfg.batch_size, rng, cfg.length_groups):
                batch_rows = subset[batch]
                index = batch_rows[world.rank :: world.size]
                if len(index) == 0:  # a short last batch: every rank must still take part in the step
                    index = batch_rows[:1]
                batch = self._encode([texts[i] for i in index])
                loss = self._loss(batch, target[index], aux_target[index] if aux_target is not None else None)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.fgm_epsilon > 0:
                    self._adversarial_step(batch, target[index], aux_target[index] if aux_target is not None else None)
                world.average_gradients(self.model)
                optimizer.step()
            score = world.broadcast(rmse(self.predict(validation[0]), validation[1]) if world.is_main else None)
            if score < best:
                best, best_state = score, copy.deepcopy(self.model.state_dict())
        self.model.load_state_dict(best_state)
        self.validation_rmse = best
        return self

    def token_counts(self, texts) -> np.ndarray:
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.config.max_tokens)["input_ids"]
        return np.array([len(row) for row in ids])

    def _encode(self, texts):
        return self.tokenizer(texts, padding=True, truncation=True, max_length=self.config.max_tokens,
                              return_tensors="pt").to(self.world.device)

    def _pooled(self, batch) -> torch.Tensor:
        hidden = self.model["encoder"](**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def _loss(self, batch, target, aux_target) -> torch.Tensor:
        pooled = self._pooled(batch)
        loss = torch.nn.functional.mse_loss(self.model["head"](pooled).squeeze(1), target)
        if aux_target is not None:
            loss = loss + self.config.aux_weight * torch.nn.functional.binary_cross_entropy_with_logits(
                self.model["aux"](pooled).squeeze(1), aux_target)
        return loss

    def _adversarial_step(self, batch, target, aux_target) -> None:
        """FGM: perturb the word embeddings along their gradient, add that loss's gradient, restore."""
        embeddings = self.model["encoder"].get_input_embeddings().weight
        if embeddings.grad is None:
            return  # frozen embeddings (LoRA): nothing to perturb
        norm = embeddings.grad.norm()
        if norm == 0 or torch.isnan(norm):
            return
        delta = self.config.fgm_epsilon * embeddings.grad / norm
        embeddings.data.add_(delta)
        self._loss(batch, target, aux_target).backward()
        embeddings.data.sub_(delta)

    @torch.no_grad()
    def predict(self, texts) -> np.ndarray:
        """Scored in order of length, so each batch pads little, then put back in the given order."""
        self.model.eval()
        texts = list(texts)
        order = np.argsort(self.token_counts(texts), kind="stable")
        predicted = np.empty(len(texts))
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            pooled = self._pooled(self._encode([texts[i] for i in rows]))
            predicted[rows] = self.model["head"](pooled).squeeze(1).float().cpu().numpy()
        return predicted * self.scale + self.centre


def length_grouped_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                           group: int = 50) -> list[np.ndarray]:
    """One epoch's batches, shuffled, each of rows of similar length.

    Padding every row to the longest of a random batch of reviews makes a third of the work
    padding. So (as Hugging Face's LengthGroupedSampler does) the shuffled rows are cut into groups
    of `group` batches, each group sorted by length and cut into batches, and the batches shuffled.
    """
    order = rng.permutation(len(lengths))
    span = batch_size * group
    batches = []
    for start in range(0, len(order), span):
        chunk = order[start : start + span]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def make_learner(name: str, seed: int, finetune: FineTuneConfig | None = None, world: World | None = None):
    """A learner by name: tfidf, zero-shot (frozen encoder + ridge) or finetune."""
    if name == "tfidf":
        return TfidfRidge()
    if name == "zero-shot":
        return FrozenEmbeddingRidge((finetune or FineTuneConfig()).encoder)
    if name == "finetune":
        return FineTunedEncoder(finetune, seed, world=world)
    raise ValueError(name)
