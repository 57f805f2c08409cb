"""The workspace: what the runs of one process share, and the run contexts it hands out.

A `Workspace` holds the task registry, the cache, the task store (each task loaded and encoded
once per process), one input pipeline per backbone (a preset's tokenizer built from every task
it will see) and the accelerator. `SuiteRunner` is the suite loop over one; `transferbench
similarity`, `recommend` and anything else that needs run contexts without running a suite
use a Workspace directly.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch

from harness.backbones import BackboneSpec
from harness.cache import Cache, main_process_first
from harness.context import RunContext, default_cache_dir
from harness.hostmemory import tune_allocator
from harness.preprocess import InputPipeline, build_pipeline
from harness.progress import quiet_libraries
from harness.spec import Budget, RunSpec
from harness.splits import TaskStore
from harness.taskregistry import TaskRegistry


def make_accelerator(
    mixed_precision: str = "no",
    report_to: str | None = None,
    project_dir: Path | None = None,
    torch_compile: bool = False,
):
    """The run's Accelerator. `torch_compile`: `prepare` compiles each model it trains (inductor);
    else Accelerate's own `ACCELERATE_DYNAMO_BACKEND` (or `accelerate launch --dynamo_backend`)
    decides. A process keeps the first Accelerator's precision and compile settings."""
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs

    # `accelerate launch --multi_gpu` on a machine without a GPU: the processes run on the CPU over gloo
    cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    log_with = (
        None
        if report_to in (None, "", "none")
        else ("all" if report_to == "all" else report_to.split(","))
    )
    acc = Accelerator(
        cpu=cpu,
        mixed_precision=mixed_precision,
        log_with=log_with,
        project_dir=str(project_dir) if project_dir else None,
        kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        dynamo_backend="inductor" if torch_compile else None,
        # batches come from pinned memory on a GPU: copy them without waiting
        dataloader_config=DataLoaderConfiguration(non_blocking=torch.cuda.is_available()),
    )
    if acc.num_processes > 1:
        # once per process (atexit keeps one entry per function)
        atexit.unregister(leave_process_group)
        atexit.register(leave_process_group)
    return acc


def leave_process_group() -> None:
    """Destroy the default process group while the interpreter is still whole. Left to
    interpreter shutdown, gloo's worker threads can be torn down while joinable, and a process
    that finished its work aborts ("terminate called without an active exception", SIGABRT):
    seen on a 2-process CPU run under load (pytorch/pytorch#190489)."""
    if getattr(sys, "last_value", None) is not None:
        # leaving on an uncaught exception: another process may be inside a collective, and
        # tearing the group down with it (NCCL) can block; let the launcher see this one fail
        return
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        try:
            torch.distributed.destroy_process_group()
        except Exception as exc:  # noqa: BLE001 - at exit: say it, do not mask the exit status
            print(f"warning: leaving the process group failed: {exc}", file=sys.stderr)


class Workspace:
    """One accelerator, one cache, one task store and one input pipeline per backbone."""

    def __init__(
        self,
        data_dir: Path | None = None,
        include_paths: list[str] | None = None,
        cache_dir: Path | None = None,
        mixed_precision: str = "no",
        report_to: str | None = None,
        logging_dir: Path | None = None,
        accelerator: Any = None,
        registry: TaskRegistry | None = None,
    ):
        tune_allocator()  # once per process (see harness.hostmemory)
        quiet_libraries()  # outside a terminal, no datasets / transformers bars (harness.progress)
        self.registry = registry or TaskRegistry(include_paths or [], strict=False)
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.accelerator = accelerator or make_accelerator(mixed_precision, report_to, logging_dir)
        self.cache = Cache(self.cache_dir, self.accelerator)
        self.store = TaskStore(self.registry, data_dir, self.cache)
        self._pipelines: dict[str, InputPipeline] = {}
        self._corpus: dict[str, set[str]] = defaultdict(set)

    def pipeline(self, spec: RunSpec) -> InputPipeline:
        bb = BackboneSpec(**spec.backbone)
        key = repr(sorted(spec.backbone.items()))
        if key not in self._pipelines:
            corpus = [self.store.data(name) for name in sorted(self._corpus[key])]
            # a preset's tokenizer comes from the cache, whose collective calls must not meet
            # `main_process_first`'s barriers; the main process downloads a Hub tokenizer first
            first = nullcontext() if bb.is_preset else main_process_first(self.accelerator)
            with first:
                self._pipelines[key] = build_pipeline(bb, corpus, self.cache)
        return self._pipelines[key]

    def register_corpus(self, backbone: dict[str, Any], tasks: list[str]) -> None:
        """Tasks a backbone will see: a preset's tokenizer is built from all of them (call
        before the backbone's first run; later tasks join only a pipeline not yet built)."""
        self._corpus[repr(sorted(backbone.items()))].update(tasks)

    def context(self, spec: RunSpec) -> RunContext:
        """The run context of a spec (its target's data loaded and encoded)."""
        card = self.registry.get(spec.target)
        pipeline = self.pipeline(spec)
        pipeline.check(card)
        return RunContext(
            spec=spec,
            card=card,
            pipeline=pipeline,
            store=self.store,
            cache=self.cache,
            budget=Budget.from_dict(spec.budget),
            source_budget=Budget.from_dict(spec.source_budget),
        )
