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
import json
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from harness.cards import TaskCard
from harness.errors import ConfigError
from harness.heads import build_head
from harness.methods import MethodConfig
from harness.metrics import is_better, metric_spec
from harness.spec import Budget
from harness.training import (
    LoopState,
    TaskSchedule,
    TaskSplits,
    TrainResult,
    adamw,
    one_pass,
    split_labels,
    supervised_loss,
    train_tasks,
)

if TYPE_CHECKING:
    from harness.context import RunContext

logger = logging.getLogger(__name__)
SCHEDULES = ("proportional", "temperature", "uniform")
LEARNED_MARGIN = 0.02  # a head must beat the best constant predictor by this much (metric units)
# MT-DNN's optimisation defaults (Liu et al. 2019): Adamax at 5e-5, linear decay, 10 % warm-up
PAPER_BUDGET = {"learning_rate": 5e-5, "warmup_ratio": 0.1, "lr_scheduler_type": "linear"}
OPTIMIZERS = ("adamax", "adamw")


@dataclass
class MultiTaskConfig(MethodConfig):
    """Settings of a multi-task phase (`mtdnn`, and the `distill` student)."""

    schedule: str = "proportional"  # proportional | temperature | uniform
    temperature: float = 1.0  # for schedule: temperature
    optimizer: str = "adamax"  # adamax (the paper) | adamw
    select: str = "mean"  # multi-task checkpoint: best mean over tasks, or per_task
    grad_cosine_every: int = 20  # optimizer steps between gradient-cosine measurements; 0: off
    finetune: bool = True  # fine-tune on the target after the multi-task phase

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.schedule not in SCHEDULES:
            raise ConfigError(
                f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}"
            )
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ConfigError(f"temperature must be a finite number > 0, got {self.temperature}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}"
            )
        if self.select not in ("mean", "per_task"):
            raise ConfigError(f"select must be 'mean' or 'per_task', got {self.select!r}")
        if self.grad_cosine_every < 0:
            raise ConfigError(f"grad_cosine_every must be >= 0, got {self.grad_cosine_every}")


def make_optimizer(kind: str) -> Callable[[list[dict[str, Any]], Budget], torch.optim.Optimizer]:
    """An optimizer factory for the training loop: Adamax (MT-DNN) or AdamW (the single-task
    loop's own: fused kernels where the parameters' device has them, five times faster a step
    than torch's default on the CPU for MiniLM)."""
    if kind not in OPTIMIZERS:
        raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {kind!r}")
    if kind == "adamw":
        return adamw

    def factory(param_groups: list[dict[str, Any]], budget: Budget) -> torch.optim.Optimizer:
        return torch.optim.Adamax(
            param_groups, lr=budget.learning_rate, weight_decay=budget.weight_decay
        )

    return factory


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


def build_multihead(
    encoder: nn.Module,
    cards: Sequence[TaskCard],
    feature_dim: int,
    hidden: int = 0,
    dropout: float = 0.1,
) -> MultiHeadModel:
    """One head per card, by problem type: classification, pair classification, regression."""
    return MultiHeadModel(
        encoder, {c.name: build_head(c, feature_dim, hidden, dropout) for c in cards}
    )


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
        draws = torch.multinomial(
            weights / weights.sum(), sum(batches.values()), replacement=True, generator=g
        )
        return [names[i] for i in draws.tolist()]

    return sampled


def task_gradients(
    model: MultiHeadModel,
    batches: dict[str, dict[str, Any]],
    cards: dict[str, TaskCard],
    loss: Callable = supervised_loss,
) -> dict[str, torch.Tensor]:
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
            out[name] = (
                torch.cat(
                    [
                        (g if g is not None else torch.zeros_like(p)).flatten()
                        for g, p in zip(grads, params)
                    ]
                )
                .detach()
                .cpu()
            )
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

    def __init__(
        self,
        probe_batches: dict[str, dict[str, Any]],
        cards: dict[str, TaskCard],
        every: int,
        loss: Callable = supervised_loss,
    ):
        if every <= 0:
            raise ConfigError(f"gradient cosine interval must be > 0, got {every}")
        self.batches, self.cards, self.every, self.loss = probe_batches, cards, every, loss
        self.history: list[dict[str, Any]] = []

    def __call__(self, state: LoopState) -> None:
        if state.step % self.every:
            return
        device = state.accelerator.device
        batches = {
            n: {k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items()}
            for n, b in self.batches.items()
        }
        grads = task_gradients(state.model, batches, self.cards, self.loss)
        self.history.append(
            {"step": state.step, "epoch": state.epoch, "cosine": gradient_cosines(grads)}
        )

    def mean(self) -> dict[str, float]:
        """Each pair's cosine averaged over the measurements."""
        pairs: dict[str, list[float]] = {}
        for h in self.history:
            for k, v in h["cosine"].items():
                pairs.setdefault(k, []).append(v)
        return {k: sum(v) / len(v) for k, v in pairs.items()}


def untrained_heads(
    cards: Sequence[TaskCard],
    splits: Sequence[TaskSplits],
    validation: dict[str, dict[str, float]],
) -> dict[str, str]:
    """The tasks whose head did not learn in a multi-task phase, with why. A head has learned
    when, on at least one metric of its card, its selected validation score (`validation`:
    task -> metric -> score) beats that metric's best constant predictor on the same rows by
    `LEARNED_MARGIN` (a correlation, which a constant does not have: beats 0 by it). One
    metric is not enough: a constant can be the best answer under it (always "equivalent"
    maximises MRPC's F1 at 0.81 while scoring the majority rate in accuracy), and a head stuck
    on one answer is a constant, so it beats none."""
    from harness.analysis.floor import constant_floors

    out = {}
    for card, split in zip(cards, splits):
        labels = split_labels(split.validation)
        labels = (labels if card.problem == "regression" else labels.long()).tolist()
        floors = constant_floors(card, labels)
        shown, learned = [], False
        for metric in card.metrics:
            score = validation.get(card.name, {}).get(metric, math.nan)
            floor = 0.0 if math.isnan(floors[metric]) else floors[metric]
            direction = metric_spec(metric).direction
            bar = floor + LEARNED_MARGIN if direction == "max" else floor - LEARNED_MARGIN
            learned = learned or (not math.isnan(score) and is_better(direction, score, bar))
            shown.append(f"{metric} {score:.3f}, best constant {floor:.3f}")
        if not learned:
            out[card.name] = (
                f"validation {'; '.join(shown)}: not better by {LEARNED_MARGIN} on any metric"
            )
    return out


def train_shared_model(
    ctx: RunContext,
    cards: Sequence[TaskCard],
    recipe: dict[str, Any],
    cfg: Any,
    loss: Callable = supervised_loss,
    prepare: Callable[[list[TaskSplits]], list[TaskSplits]] | None = None,
) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The shared encoder and heads after multi-task training on the spec's task set, with
    the per-task scores and gradient cosines; trained once per `ctx.task_set_key(recipe)` and
    cached. `cfg` gives schedule, temperature, optimizer, select, grad_cosine_every,
    head_hidden and head_dropout; `prepare` may add columns to the splits (soft targets)."""

    def compute(out: Path | None) -> None:
        encoder = ctx.base_encoder(seed=ctx.spec.source_seed)
        model = build_multihead(
            encoder, cards, encoder.feature_dim, cfg.head_hidden, cfg.head_dropout
        )
        splits = [ctx.task_splits(c.name) for c in cards]
        if prepare is not None:
            splits = prepare(splits)
        hooks = []
        if cfg.grad_cosine_every and len(splits) > 1:
            probe_batches = {
                s.name: s.collate([s.train[i] for i in range(min(32, len(s.train)))])
                for s in splits
            }
            hooks.append(
                GradientCosineProbe(
                    probe_batches, {c.name: c for c in cards}, cfg.grad_cosine_every, loss
                )
            )
        res = train_tasks(
            model,
            splits,
            ctx.source_budget,
            ctx.accelerator,
            ctx.spec.source_seed,
            loss=loss,
            optimizer=make_optimizer(cfg.optimizer),
            schedule=task_schedule(cfg.schedule, cfg.temperature),
            select=cfg.select,
            step_hooks=hooks,
            desc=f"{recipe.get('method', 'multi-task')} task set",
        )
        if out is None:
            return
        torch.save(model.state_dict(), out / "model.pt")
        meta = {
            "tasks": {
                n: {
                    "primary": r.primary,
                    "metrics": r.test_metrics,
                    "best_epoch": r.best_epoch,
                    "validation_metrics": r.validation_metrics,
                    "train_examples": r.train_examples,
                }
                for n, r in res.tasks.items()
            },
            "mean_primary": res.primary,
            "steps": res.steps,
            "curve": res.curve,
            "gradient_cosine": hooks[0].history if hooks else [],
            "gradient_cosine_mean": hooks[0].mean() if hooks else {},
        }
        (out / "meta.json").write_text(json.dumps(meta, indent=1))

    def load(folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=True)
        return state, json.loads((folder / "meta.json").read_text())

    name = "+".join(sorted(ctx.spec.task_set))[:80]
    state, meta = ctx.cache.get_or_compute(
        "task_sets", ctx.task_set_key(recipe), compute, load, name=name
    )
    # judged on every read, not stored with the phase: a cached phase meets today's check
    validation = {n: t.get("validation_metrics") or {} for n, t in meta["tasks"].items()}
    splits = [ctx.task_splits(c.name) for c in cards]
    meta["untrained_heads"] = untrained_heads(cards, splits, validation)
    return state, meta


def finetune_from_shared(
    ctx: RunContext, state: dict[str, torch.Tensor], meta: dict[str, Any], cfg: Any
) -> tuple[TrainResult, dict[str, Any]]:
    """Fine-tune a multi-task model (`train_shared_model`'s weights) on the run's target, as
    `mtdnn` and `distill` do: the shared encoder with the target's own head when the target is
    in the task set (a new head when not), trained with the config's optimizer. Returns the
    result and what the record keeps of the multi-task phase (`extra`)."""
    from harness.heads import EncoderWithHead

    cards = [ctx.task_card(n) for n in ctx.spec.task_set]
    target = ctx.spec.target
    in_set = target in ctx.spec.task_set
    encoder = ctx.base_encoder(seed=ctx.spec.source_seed)
    model = build_multihead(encoder, cards, encoder.feature_dim, cfg.head_hidden, cfg.head_dropout)
    model.load_state_dict(state)
    head = (
        model.head(target)
        if in_set
        else build_head(ctx.card, encoder.feature_dim, cfg.head_hidden, cfg.head_dropout)
    )
    result = ctx.train(EncoderWithHead(encoder, head), optimizer=make_optimizer(cfg.optimizer))
    return result, shared_extra(ctx, meta)


def shared_extra(ctx: RunContext, meta: dict[str, Any]) -> dict[str, Any]:
    """What a run's record keeps of its multi-task phase."""
    target = ctx.spec.target
    return {
        "task_set": list(ctx.spec.task_set),
        "multitask": meta,
        "multitask_score": (meta["tasks"].get(target) or {}).get("primary"),
    }
