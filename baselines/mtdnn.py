"""`mtdnn` (Liu et al. 2019, arXiv 1901.11504): a shared encoder with one head per task, trained
on the suite's task set with mini-batches drawn one task at a time, then fine-tuned per target.

The multi-task phase runs once per (task set, task versions, recipe, source budget, source
seed) and is cached: every target of the suite starts from it. Heads follow the task's
problem type (single-sentence or image classification, pair classification, regression);
each task has its own head, so the same dataset may appear twice as two tasks. The next
task is drawn by a schedule: `proportional` to size (the paper), `temperature`-scaled, or
`uniform`, seeded and the same on every process. Paper defaults: Adamax, learning rate
5e-5, linear decay with 10 % warm-up (all overridable by the suite's budget and the command
line). During the multi-task phase the cosine between the task gradients on the shared
encoder is measured every `grad_cosine_every` steps and saved with the run.

A target inside the task set is fine-tuned from the shared encoder with its own head; a
target outside it gets a new head (transfer to a new task). With `finetune: false` the run
scores the multi-task model itself (its target must be in the set).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from harness.method_api import (
    PAPER_BUDGET,
    ConfigError,
    Method,
    MethodResult,
    MultiTaskConfig,
    RunContext,
    TrainResult,
    finetune_from_shared,
    register_method,
    shared_extra,
    train_shared_model,
)


@register_method
class MTDNN(Method):
    name = "mtdnn"
    Config = MultiTaskConfig
    uses_sources = False
    multi_task = True
    budget_defaults = PAPER_BUDGET
    # the small-budget recipe (AdamW: Adamax's steps are too short at ~60 steps a task; README)
    test_settings = {
        "task_set": ["synth_text_anchor", "synth_text_regression"],
        "fraction": 2 / 3,  # of the 300 capped rows: the target trains on 200
        "config": {"optimizer": "adamw"},
        "budget": {"learning_rate": 2e-3},
        "max_train_samples": 300,
        "margin": 0.08,
    }  # 300 rows per task: ~0.12 over the floor (500 scored rows: SE 0.02)
    description = "MT-DNN: shared encoder, per-task heads, multi-task training on the task set, then per-target fine-tuning"

    def recipe(self) -> dict[str, Any]:
        """The settings the multi-task phase depends on (not the fine-tuning ones)."""
        cfg = asdict(self.config)
        cfg.pop("finetune")
        return {"method": "mtdnn", **cfg}

    def shared_model(self, ctx: RunContext) -> tuple[dict[str, Any], dict[str, Any]]:
        """The multi-task model's weights and scores (trained once per recipe, cached)."""
        if not self.config.finetune and ctx.spec.target not in ctx.spec.task_set:
            raise ConfigError(
                f"mtdnn with finetune: false scores the multi-task model, but target "
                f"'{ctx.spec.target}' is not in the task set"
            )
        cards = [ctx.task_card(n) for n in ctx.spec.task_set]
        return train_shared_model(ctx, cards, self.recipe(), self.config)

    def prepare(self, ctx: RunContext) -> None:
        self.shared_model(ctx)

    def run(self, ctx: RunContext) -> MethodResult:
        state, meta = self.shared_model(ctx)
        if self.config.finetune:
            return MethodResult(*finetune_from_shared(ctx, state, meta, self.config))
        t = meta["tasks"][ctx.spec.target]  # the multi-task model's own head, as scored
        result = TrainResult(
            test_metrics=t["metrics"],
            primary=t["primary"],
            best_epoch=t["best_epoch"],
            validation_metrics=t["validation_metrics"],
            curve=meta["curve"],
            steps=meta["steps"],
        )
        return MethodResult(result, shared_extra(ctx, meta))
