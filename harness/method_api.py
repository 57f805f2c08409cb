"""The method API: everything a method may use, in one place. The built-in methods in
`baselines/` and the plug-ins in `examples/methods/` import only this module (a test keeps it
so); a plug-in written against it alone runs (`transferbench run --include my_method.py`).

A method is a class registered with `register_method`: a `name`, a `Config` (a `MethodConfig`
dataclass: its settings, checked when a suite expands), `uses_sources` / `multi_task`, and
`run(ctx) -> MethodResult`. The `RunContext` it gets hands out what one run may see:

- `ctx.card`, `ctx.spec`, `ctx.seed`, `ctx.budget`: the target task, the run, its seed, its budget;
- `ctx.start_encoder()`: the encoder the run starts from (base, or trained on its sources);
  `ctx.random_encoder()`: the architecture randomly initialised with the run's seed (scratch);
  `ctx.base_encoder()`: the backbone as published (a preset: randomly initialised);
- `ctx.features(encoder, role, layer=0)`: an encoder's features of a split (of layer k ≥ 1 when
  given, counted as `copy_first_n` counts layers), cached (frozen-encoder probes);
- `ctx.split(role)`: the encoded split; `ctx.train(model, ...)`: train on the target with the
  run's budget and seed, returning a `TrainResult` (scores, curve, and the trained `model`);
- `ctx.for_task(task, ...)`: the context of another task of the suite (teachers, task sets).

Heads (`build_head`, `EncoderWithHead`), losses (`supervised_loss`), the training loop
(`train_model`, `train_tasks` through the multi-task helpers) and errors (`ConfigError` for a
bad setting, `RunFailure` for a run that cannot finish) complete it."""

from __future__ import annotations

from harness.backbones import reinitialize
from harness.context import RunContext
from harness.errors import ConfigError, RunFailure, TransferBenchError
from harness.heads import EncoderWithHead, build_head, predictions_from
from harness.methods import Method, MethodConfig, MethodResult, get_method, register_method
from harness.metrics import compute_metrics
from harness.multitask import (
    PAPER_BUDGET,
    MultiTaskConfig,
    build_multihead,
    finetune_from_shared,
    make_optimizer,
    shared_extra,
    train_shared_model,
)
from harness.spec import Budget
from harness.training import (
    TRAINING_VERSION,
    TaskSplits,
    TrainResult,
    predict_outputs,
    supervised_loss,
    train_model,
)

__all__ = [
    # defining and registering a method
    "Method",
    "MethodConfig",
    "MethodResult",
    "register_method",
    "get_method",
    # what a run sees and trains with
    "RunContext",
    "Budget",
    "TrainResult",
    "TaskSplits",
    "train_model",
    "supervised_loss",
    "predict_outputs",
    "compute_metrics",
    "TRAINING_VERSION",
    # models
    "EncoderWithHead",
    "build_head",
    "predictions_from",
    "reinitialize",
    # multi-task training (MT-DNN and its distillation)
    "MultiTaskConfig",
    "PAPER_BUDGET",
    "build_multihead",
    "make_optimizer",
    "train_shared_model",
    "finetune_from_shared",
    "shared_extra",
    # errors
    "ConfigError",
    "RunFailure",
    "TransferBenchError",
]
