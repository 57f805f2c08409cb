"""Multi-task building blocks: a shared encoder with one head per task, task schedules (which
task the next mini-batch comes from), and the cosine between task gradients on the encoder.

Schedules are pure functions of (batches per task, epoch, seed), so every process draws the
same task sequence:
- `proportional` (MT-DNN): every batch of every task once per epoch, shuffled, so a task is
  drawn in proportion to its size;
- `temperature` T: each draw picks task t with probability ∝ n_t^(1/T) (T = 1 is
  proportional in expectation, T → ∞ uniform), for as many draws as one pass has batches;
- `uniform`: every task equally often.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from harness.cards import TaskCard
from harness.errors import ConfigError
from harness.heads import build_head
from harness.training import LoopState, TaskSchedule, one_pass, supervised_loss

SCHEDULES = ("proportional", "temperature", "uniform")


class MultiHeadModel(nn.Module):
    """A shared encoder and one head per task (keyed by task name): `model(task=..., **inputs)`."""

    takes_task = True

    def __init__(self, encoder: nn.Module, heads: dict[str, nn.Module]):
        super().__init__()
        self.encoder = encoder
        self.task_names = list(heads)
        # ModuleDict keys may not contain dots; task names are mapped to safe keys
        self.heads = nn.ModuleDict({_key(n): h for n, h in heads.items()})

    def head(self, task: str) -> nn.Module:
        return self.heads[_key(task)]

    def forward(self, task: str, **inputs: torch.Tensor) -> torch.Tensor:
        return self.head(task)(self.encoder(**inputs))


def _key(task: str) -> str:
    return task.replace(".", "__")


def build_multihead(encoder: nn.Module, cards: Sequence[TaskCard], feature_dim: int, hidden: int = 0,
                    dropout: float = 0.1) -> MultiHeadModel:  # fmt: skip
    """One head per card, by problem type: classification, pair classification, regression."""
    return MultiHeadModel(encoder, {c.name: build_head(c, feature_dim, hidden, dropout) for c in cards})


def task_schedule(kind: str = "proportional", temperature: float = 1.0) -> TaskSchedule:
    """The task schedule of that kind (see the module docstring)."""
    if kind not in SCHEDULES:
        raise ConfigError(f"task schedule must be one of {', '.join(SCHEDULES)}, got {kind!r}")
    if kind == "proportional":
        return one_pass
    if kind == "temperature" and not temperature > 0:
        raise ConfigError(f"task schedule temperature must be > 0, got {temperature}")
    power = 0.0 if kind == "uniform" else 1.0 / temperature

    def sampled(batches: dict[str, int], epoch: int, seed: int) -> list[str]:
        names = sorted(batches)
        weights = torch.tensor([batches[n] ** power for n in names], dtype=torch.float64)
        g = torch.Generator().manual_seed(seed * 100_003 + epoch)
        draws = torch.multinomial(weights / weights.sum(), sum(batches.values()), replacement=True, generator=g)
        return [names[i] for i in draws.tolist()]

    return sampled


def task_gradients(model: MultiHeadModel, batches: dict[str, dict[str, Any]], cards: dict[str, TaskCard],
                   loss: Callable = supervised_loss) -> dict[str, torch.Tensor]:  # fmt: skip
    """Each task's loss gradient on the shared encoder's parameters, flattened (eval mode: no
    dropout; the model's own `.grad` is left untouched)."""
    params = [p for p in model.encoder.parameters() if p.requires_grad]
    was_training = model.training
    model.eval()
    out = {}
    try:
        for name, batch in batches.items():
            inputs = {k: v for k, v in batch.items() if k not in ("labels", "task", "soft_targets")}
            value = loss(model(task=name, **inputs), batch, cards[name])
            grads = torch.autograd.grad(value, params, allow_unused=True)
            out[name] = torch.cat([(g if g is not None else torch.zeros_like(p)).flatten()
                                   for g, p in zip(grads, params)]).detach().cpu()  # fmt: skip
    finally:
        model.train(was_training)
    return out


def gradient_cosines(grads: dict[str, torch.Tensor]) -> dict[str, float]:
    """Cosine similarity of every pair of task gradients, keyed "a|b" (a < b)."""
    out = {}
    for a, b in itertools.combinations(sorted(grads), 2):
        na, nb = grads[a].norm(), grads[b].norm()
        cos = float(grads[a] @ grads[b] / (na * nb)) if na > 0 and nb > 0 else math.nan
        out[f"{a}|{b}"] = cos
    return out


class GradientCosineProbe:
    """A step hook: every `every` optimizer steps, the pairwise cosine between task gradients on
    the shared encoder, on one fixed probe batch per task (the same batches each time)."""

    def __init__(self, probe_batches: dict[str, dict[str, Any]], cards: dict[str, TaskCard], every: int,
                 loss: Callable = supervised_loss):  # fmt: skip
        if every <= 0:
            raise ConfigError(f"gradient cosine interval must be > 0, got {every}")
        self.batches, self.cards, self.every, self.loss = probe_batches, cards, every, loss
        self.history: list[dict[str, Any]] = []

    def __call__(self, state: LoopState) -> None:
        if state.step % self.every:
            return
        device = state.accelerator.device
        batches = {n: {k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items()}
                   for n, b in self.batches.items()}  # fmt: skip
        grads = task_gradients(state.model, batches, self.cards, self.loss)
        self.history.append({"step": state.step, "epoch": state.epoch, "cosine": gradient_cosines(grads)})

    def mean(self) -> dict[str, float]:
        """Each pair's cosine averaged over the measurements."""
        pairs: dict[str, list[float]] = {}
        for h in self.history:
            for k, v in h["cosine"].items():
                pairs.setdefault(k, []).append(v)
        return {k: sum(v) / len(v) for k, v in pairs.items()}
