"""`distill` (MT-DNN-KD, Liu et al. 2019, arXiv 1904.09482): for each task marked for
distillation, an ensemble of K teachers (K seeds of any single-task method) is trained once;
their averaged class probabilities (mean prediction for regression) on the task's training
rows are cached as soft targets. One multi-task student is trained on the whole task set:
for a task with teachers the loss is the mean of the hard-label loss and the soft-target
cross-entropy at temperature T (× T², so gradients keep their scale); tasks without teachers
use hard labels. The student is then fine-tuned per target, as in `mtdnn`.

Records hold each teacher's score, the ensemble's and the student's (before and after
fine-tuning), so the leaderboard shows how much of the ensemble's gain the student keeps.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from harness.method_api import (
    PAPER_BUDGET,
    TRAINING_VERSION,
    ConfigError,
    Method,
    MethodResult,
    MultiTaskConfig,
    RunContext,
    RunFailure,
    TaskSplits,
    TransferBenchError,
    compute_metrics,
    finetune_from_shared,
    get_method,
    predict_outputs,
    predictions_from,
    register_method,
    supervised_loss,
    train_shared_model,
)


@dataclass
class DistillConfig(MultiTaskConfig):
    teachers: int = 3  # K: teacher seeds per distilled task
    teacher_method: str = "finetune"  # any single-task method that trains through ctx.train
    teacher_settings: dict = field(default_factory=dict)
    # sources the teachers start from (a method that uses sources, e.g. finetune): MT-DNN-KD's
    # teachers are MT-DNN models, which have seen the set's large related task; a teacher
    # trained from the base encoder on a small task may learn nothing worth distilling
    teacher_sources: list = field(default_factory=list)
    # tasks with teachers; empty: every task of the set
    distill_tasks: list = field(default_factory=list)
    kd_temperature: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if not (math.isfinite(self.kd_temperature) and self.kd_temperature > 0):
            raise ConfigError(
                f"kd_temperature must be a finite number > 0, got {self.kd_temperature}"
            )
        if not isinstance(self.distill_tasks, list) or not all(
            isinstance(t, str) for t in self.distill_tasks
        ):
            raise ConfigError(
                f"distill_tasks must be a list of task names, got {self.distill_tasks!r}"
            )
        if not isinstance(self.teacher_settings, dict):
            raise ConfigError(
                f"teacher_settings must be a mapping of the teacher method's settings, got {self.teacher_settings!r}"
            )
        if not isinstance(self.teacher_sources, list) or not all(
            isinstance(t, str) for t in self.teacher_sources
        ):
            raise ConfigError(
                f"teacher_sources must be a list of task names, got {self.teacher_sources!r}"
            )
        if self.teachers < 1:
            raise ConfigError(f"teachers must be >= 1, got {self.teachers}")
        if not self.finetune:
            raise ConfigError(
                "distill scores the fine-tuned student; use mtdnn with finetune: false for MT-only scores"
            )


def kd_loss(temperature: float):
    """Mean of the hard-label loss and the soft-target loss where the batch has soft targets."""

    def loss(outputs: torch.Tensor, batch: dict[str, Any], card) -> torch.Tensor:
        hard = supervised_loss(outputs, batch, card)
        soft = batch.get("soft_targets")
        if soft is None:
            return hard
        if card.problem == "regression":
            return 0.5 * hard + 0.5 * F.mse_loss(outputs.float(), soft.float().squeeze(-1))
        log_p = F.log_softmax(outputs.float() / temperature, dim=-1)
        return 0.5 * hard + 0.5 * -(soft * log_p).sum(-1).mean() * temperature**2

    return loss


@register_method
class Distill(Method):
    name = "distill"
    Config = DistillConfig
    uses_sources = False
    multi_task = True
    budget_defaults = PAPER_BUDGET
    test_settings = {
        "task_set": ["synth_text_anchor", "synth_text_regression"],
        "fraction": 2 / 3,  # of the 300 capped rows: the target trains on 200
        "config": {"teachers": 1},
        "budget": {"learning_rate": 2e-3},
        "max_train_samples": 300,
        "margin": 0.08,
    }  # one teacher, 300 rows: ~0.10 over the floor (500 scored rows: SE 0.02)
    description = "MT-DNN-KD: teacher ensembles per task, soft targets, one multi-task student, then fine-tuning"

    def shared_model(
        self, ctx: RunContext
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The student's weights and scores (trained once per recipe, cached) and each
        distilled task's teacher scores."""
        cfg = self.config
        if get_method(cfg.teacher_method).multi_task:
            raise ConfigError(
                f"distill: teacher_method '{cfg.teacher_method}' is multi-task; use a single-task method"
            )
        if cfg.teacher_sources and not get_method(cfg.teacher_method).uses_sources:
            raise ConfigError(
                f"distill: teacher_sources {cfg.teacher_sources} given, and teacher_method "
                f"'{cfg.teacher_method}' starts from no source; use one that does (finetune)"
            )
        for name in cfg.teacher_sources:
            ctx.task_card(name)  # an unknown name fails here, before any teacher trains
        distilled = list(cfg.distill_tasks) or list(ctx.spec.task_set)
        unknown = [t for t in distilled if t not in ctx.spec.task_set]
        if unknown:
            raise ConfigError(
                f"distill: distill_tasks {unknown} are not in the task set {list(ctx.spec.task_set)}"
            )
        cards = [ctx.task_card(n) for n in ctx.spec.task_set]
        ensembles = {t: self.soft_targets(ctx, t) for t in distilled}

        def attach(splits: list[TaskSplits]) -> list[TaskSplits]:
            out = []
            for s in splits:
                if s.name in ensembles:
                    soft = ensembles[s.name][0]
                    if len(soft) != len(s.train):
                        raise ConfigError(
                            f"distill: soft targets of '{s.name}' cover {len(soft)} rows, not {len(s.train)}"
                        )
                    s = TaskSplits(
                        s.card,
                        s.train.add_column("soft_targets", soft.tolist()),
                        s.validation,
                        s.test,
                        s.collate,
                        s.lengths,
                    )
                out.append(s)
            return out

        recipe = {"method": "distill", **{k: v for k, v in asdict(cfg).items() if k != "finetune"}}
        state, meta = train_shared_model(
            ctx, cards, recipe, cfg, loss=kd_loss(cfg.kd_temperature), prepare=attach
        )
        return state, meta, {t: e[1] for t, e in ensembles.items()}

    def prepare(self, ctx: RunContext) -> None:
        self.shared_model(ctx)

    def run(self, ctx: RunContext) -> MethodResult:
        state, meta, teachers = self.shared_model(ctx)
        result, extra = finetune_from_shared(ctx, state, meta, self.config)
        return MethodResult(result, {**extra, "teachers": teachers})

    def soft_targets(self, ctx: RunContext, task: str) -> tuple[torch.Tensor, dict[str, Any]]:
        """The teachers' averaged probabilities on the task's training rows (cached), with each
        teacher's test score and the ensemble's."""
        cfg = self.config
        card = ctx.task_card(task)
        teacher = get_method(cfg.teacher_method).from_settings(
            dict(cfg.teacher_settings), "distill: teacher_settings"
        )
        settings = asdict(teacher.config)
        splits = ctx.task_splits(task)

        def outputs(model, ds) -> torch.Tensor:
            out = predict_outputs(
                model, ds, splits.collate, ctx.accelerator, ctx.budget.per_device_eval_batch_size
            )
            if card.problem == "regression":
                return out.reshape(len(ds), 1)
            return torch.softmax(out / cfg.kd_temperature, dim=-1)

        def compute(folder: Path | None) -> None:
            train_probs, test_probs, scores = [], [], []
            for k in range(cfg.teachers):
                sub = ctx.for_task(
                    task,
                    seed=k,
                    method=cfg.teacher_method,
                    method_config=settings,
                    sources=cfg.teacher_sources,
                )
                try:
                    result = teacher.run(sub)
                except (
                    RuntimeError,
                    TransferBenchError,
                ) as exc:  # diverged, out of memory, bad data
                    raise RunFailure(
                        f"distill: teacher {k + 1}/{cfg.teachers} of '{task}' ({cfg.teacher_method}, "
                        f"seed {k}) failed: {exc}"
                    ) from exc
                model = result.train.model
                if model is None:
                    raise ConfigError(
                        f"distill: teacher method '{cfg.teacher_method}' returns no model: train it "
                        "with ctx.train (or train_model), whose result holds it"
                    )
                scores.append(result.train.primary)
                train_probs.append(outputs(model, splits.train))
                test_probs.append(outputs(model, splits.test))
            mean_test = torch.stack(test_probs).mean(0)
            preds = predictions_from(
                card, mean_test.squeeze(-1) if card.problem == "regression" else mean_test
            )
            refs = torch.as_tensor(splits.test["labels"])
            ensemble = compute_metrics(card, preds.tolist(), refs.tolist())
            if folder is not None:
                torch.save(torch.stack(train_probs).mean(0), folder / "soft_targets.pt")
                info = {
                    "teacher_scores": scores,
                    "teacher_mean": sum(scores) / len(scores),
                    "ensemble": ensemble[card.primary_metric],
                    "ensemble_metrics": ensemble,
                    "metric": card.primary_metric,
                    "teacher_method": cfg.teacher_method,
                    "teacher_sources": list(cfg.teacher_sources),
                }
                (folder / "teachers.json").write_text(json.dumps(info, indent=1))

        def load(folder: Path) -> tuple[torch.Tensor, dict[str, Any]]:
            soft = torch.load(folder / "soft_targets.pt", map_location="cpu", weights_only=True)
            return soft, json.loads((folder / "teachers.json").read_text())

        # the teachers train on the task's rows in the student's phase (`RunContext.for_task`)
        rows = ctx.rows_key() if task in ctx.spec.fraction_tasks else None
        parts = [
            "soft_targets",
            TRAINING_VERSION,
            task,
            card.content_hash,
            ctx.task_fingerprints(task),
            ctx.pipeline.identity,
            ctx.spec.backbone,
            cfg.teacher_method,
            settings,
            cfg.teachers,
            cfg.kd_temperature,
            ctx.spec.source_budget,
            ctx.spec.limit,
            ctx.spec.source_seed,
            ctx.splits.caps,
            rows,
        ]
        if cfg.teacher_sources:  # keys without them stay as they were
            parts.append({"teacher_sources": list(cfg.teacher_sources)})
        return ctx.cache.get_or_compute("soft_targets", parts, compute, load, name=task)
