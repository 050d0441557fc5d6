"""The networks: CTGAN's residual generator and a PacGAN critic trained with WGAN-GP."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class Residual(nn.Module):
    """Linear -> BatchNorm -> ReLU, concatenated to its input (CTGAN's generator block)."""

    def __init__(self, width_in: int, width_out: int):
        super().__init__()
        self.fc = nn.Linear(width_in, width_out)
        self.bn = nn.BatchNorm1d(width_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.relu(self.bn(self.fc(x))), x], dim=1)


class Generator(nn.Module):
    """Noise and the conditional vector to one row of the transformer's matrix (residual layers, CTGAN's shape)."""
    def __init__(self, noise_dim: int, cond_dim: int, hidden: tuple[int, ...], data_dim: int):
        super().__init__()
        layers, width = [], noise_dim + cond_dim
        for size in hidden:
            layers.append(Residual(width, size))
            width += size
        layers.append(nn.Linear(width, data_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, noise: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([noise, cond], dim=1))


class Critic(nn.Module):
    """Scores `pac` rows at once (PacGAN), which makes mode collapse visible to it."""

    def __init__(self, input_dim: int, hidden: tuple[int, ...], pac: int):
        super().__init__()
        self.pac = pac
        layers, width = [], input_dim * pac
        for size in hidden:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            width = size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(-1, x.shape[1] * self.pac))

    def gradient_penalty(self, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """WGAN-GP: the critic's gradient norm pushed to 1 on points between real and fake packs."""
        alpha = torch.rand(real.shape[0] // self.pac, 1, 1, generator=generator, device=real.device)
        alpha = alpha.repeat(1, self.pac, real.shape[1]).reshape(-1, real.shape[1])
        mixed = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
        grads = torch.autograd.grad(self(mixed).sum(), mixed, create_graph=True)[0]
        norms = grads.reshape(-1, self.pac * real.shape[1]).norm(2, dim=1)
        return ((norms - 1) ** 2).mean()


def activate(raw: torch.Tensor, spans: list[tuple[int, str]], tau: float, hard: bool,
             generator: torch.Generator | None) -> torch.Tensor:
    """Continuous scores as they are, Gumbel-softmax for one-hot blocks (seeded through `generator`)."""
    parts, position = [], 0
    for width, kind in spans:
        block = raw[:, position : position + width]
        position += width
        if kind == "linear":
            parts.append(block)
        else:
            parts.append(gumbel_softmax(block, tau, hard, generator))
    return torch.cat(parts, dim=1)


def gumbel_softmax(logits: torch.Tensor, tau: float, hard: bool, generator: torch.Generator | None) -> torch.Tensor:
    """Gumbel-softmax over `logits` with noise from `generator`; `hard` gives one-hot rows
    with the soft gradient (straight-through).
    """
    # torch's own gumbel_softmax takes no generator; drawing the noise here keeps sampling seeded.
    uniform = torch.rand(logits.shape, generator=generator, device=logits.device).clamp_(1e-10, 1 - 1e-10)
    soft = F.softmax((logits - torch.log(-torch.log(uniform))) / tau, dim=1)
    if not hard:
        return soft
    index = soft.argmax(dim=1, keepdim=True)
    return torch.zeros_like(soft).scatter_(1, index, 1.0) - soft.detach() + soft


def condition_loss(raw: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor,
                   discrete_slices: list[tuple[int, int, int]]) -> torch.Tensor:
    """Cross-entropy of the generated discrete columns against the conditioned levels.

    discrete_slices: per conditionable column (its index in `mask`), its start in the data matrix,
    its width, and its start in the condition vector.
    """
    losses = []
    for j, (start, width, cond_start) in enumerate(discrete_slices):
        rows = mask[:, j]
        if not rows.any():
            continue
        target = cond[rows, cond_start : cond_start + width].argmax(dim=1)
        losses.append(F.cross_entropy(raw[rows, start : start + width], target, reduction="sum"))
    if not losses:
        return raw.new_zeros(())
    return torch.stack(losses).sum() / raw.shape[0]
