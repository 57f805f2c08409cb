"""Run a list of specs: skip those already recorded, run the rest one by one, record each.

A run that fails (NaN loss, out of memory, a data or config error in that run) is recorded
as failed with its reason and the suite goes on. Records are written by the main process only.
"""

from __future__ import annotations

import logging
import resource
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.analysis.floor import constant_baseline
from harness.backbone_fingerprint import WEIGHTS_KEY, weights_fingerprint
from harness.backbones import BackboneSpec
from harness.cache import EntryBusy
from harness.context import RunContext
from harness.hostmemory import release_free_memory
from harness.methods import get_method
from harness.plugins import method_source
from harness.predictions import predictions_file_name, write_predictions
from harness.progress import bar, interactive, step_line
from harness.records import (
    RUNS_DIR,
    already_recorded,
    now,
    provenance,
    recorded_fingerprints,
    strict_record,
    write_record,
)
from harness.run_record import RunRecord
from harness.shards import preparation_order
from harness.spec import RunSpec
from harness.taskregistry import TaskRegistry
from harness.workspace import Workspace
from harness.workspace import make_accelerator as make_accelerator

logger = logging.getLogger(__name__)


# what fails one run (recorded as failed, the suite goes on); anything else is a bug and stops it
# what fails one run (or one preparation) and is recorded with it, the suite going on: any
# error a method raises, a plug-in's included (a plug-in that raised once took the suite down)
RUN_ERRORS = (Exception,)


@dataclass
class SuiteOutcome:
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    # skipped, because an earlier run recorded them as failed
    failed_before: list[str] = field(default_factory=list)
    cache_counts: Counter = field(default_factory=Counter)
    prepare_seconds: float = 0.0  # the preparation phase: sources, task-set models, teachers
    workers: list[int] = field(default_factory=list)  # process ids that ran them (Ray executor)


def reset_peak_memory(device: torch.device) -> bool:
    """Start a new peak-memory window for one run: the kernel's peak RSS (Linux `clear_refs`)
    and CUDA's peak allocation. Returns whether the RSS peak could be reset."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    release_free_memory()  # what earlier runs freed does not count towards this run's peak
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_memory_mb(device: torch.device, run_window: bool) -> dict[str, Any]:
    """The run's peak resident memory (since `reset_peak_memory`; else the process's peak,
    marked so) and, on a GPU, its peak allocation."""
    out: dict[str, Any] = {}
    hwm = None
    if run_window:
        try:
            status = Path("/proc/self/status").read_text()
            hwm = next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmHWM:"))
        except (OSError, StopIteration, ValueError):
            hwm = None
    if hwm is not None:
        out["peak_rss_mb"] = round(hwm / 1024, 1)
    else:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["peak_rss_mb"] = round(rss / 1024 if sys.platform == "darwin" else rss, 1)
        out["scope"] = "process"  # the process's peak since it started, not this run's
    if device.type == "cuda":
        out["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


class SuiteRunner(Workspace):
    """The one suite loop: plans what a list of specs still needs (what is recorded is
    skipped), prepares what runs share, runs each and records it, in a workspace.

    A suite runs in two phases. Preparation trains what runs share — source encoders,
    task-set models, teacher ensembles (each method's `prepare`, through the cache) — once
    each, before any run starts. Then each run trains and scores its target and is recorded.
    A preparation that fails fails every run that needs it, with its reason. The Ray executor's
    workers run this loop too, one spec at a time."""

    def __init__(
        self,
        output_dir: Path,
        data_dir: Path | None = None,
        include_paths: list[str] | None = None,
        cache_dir: Path | None = None,
        mixed_precision: str = "no",
        report_to: str | None = None,
        rerun_failed: bool = False,
        accelerator: Any = None,
        registry: TaskRegistry | None = None,
        echo: Callable[..., None] | None = None,
    ):
        self.output_dir = Path(output_dir)
        super().__init__(
            data_dir=data_dir,
            include_paths=include_paths,
            cache_dir=cache_dir,
            mixed_precision=mixed_precision,
            report_to=report_to,
            logging_dir=self.output_dir / "logs",
            accelerator=accelerator,
            registry=registry,
        )
        self.report_to = report_to
        self.rerun_failed = rerun_failed
        self._prepare_failed: dict[str, BaseException] = {}
        self.placement: dict[str, str] = {}  # where runs ran (shard, executor), for provenance
        # what the loop says (progress lines, skipped and failed runs, warnings): the caller's
        # choice; by default printed by the main process
        self.echo = echo or self.accelerator.print

    def run(self, specs: list[RunSpec]) -> SuiteOutcome:
        acc = self.accelerator
        outcome = SuiteOutcome()
        for spec in specs:  # the tokenizer of a preset is trained on every task its backbone sees
            self.register_corpus(spec.backbone, [spec.target, *spec.sources, *spec.task_set])
        todo = []
        skip = already_recorded(specs, self.output_dir, self.rerun_failed, self.data_changed)
        for spec in specs:
            if spec.id in skip:
                outcome.skipped.append(spec.id)
                if skip[spec.id] == "failed":
                    outcome.failed_before.append(spec.id)
            else:
                todo.append(spec)
        if outcome.skipped:
            self.echo(
                f"{len(outcome.skipped)} run(s) already recorded in {self.output_dir / 'runs'}: skipped"
            )
        started = time.perf_counter()
        self._prepare_failed = self.prepare(preparation_order(todo, self.placement.get("shard")))
        outcome.prepare_seconds = round(time.perf_counter() - started, 3)
        log = not interactive() and acc.is_local_main_process
        for i, spec in enumerate(bar(todo, desc="runs", show=acc.is_local_main_process), 1):
            t0 = time.perf_counter()
            record = self.run_one(spec)
            (outcome.ran if record["status"] == "ok" else outcome.failed).append(spec.id)
            if log:
                result = (
                    f"{record['primary_metric']} {record['primary_score']:.4f}"
                    if record["status"] == "ok"
                    else f"FAILED: {record.get('error', '')}"
                )
                self.echo(
                    step_line(i, len(todo), spec.describe(), time.perf_counter() - t0, result),
                    flush=True,
                )
            acc.wait_for_everyone()
        outcome.cache_counts = self.cache.counts
        return outcome

    def data_changed(self, spec: RunSpec, record: dict[str, Any]) -> bool:
        """Whether the data a record was made from differs from what its tasks read today
        (an edited file, a regenerated dataset, a changed Hub folder): said, and then rerun."""
        then = recorded_fingerprints(record)
        if not then:
            return False
        changed = []
        for name in dict.fromkeys([spec.target, *spec.sources, *spec.task_set]):
            try:
                now_fp = self.store.data(name).fingerprints
            except RUN_ERRORS:  # the run itself will report what is wrong with the data
                return True
            if name in then and then[name] != now_fp:
                changed.append(name)
        if WEIGHTS_KEY in then:
            backbone = BackboneSpec(**spec.backbone)
            if then[WEIGHTS_KEY] != {"weights": weights_fingerprint(backbone)}:
                changed.append(f"backbone {backbone.name} (its weights)")
        if changed:
            self.echo(
                f"run {spec.id} ({spec.describe()}): the data of {', '.join(changed)} changed "
                "since it was recorded: running it again"
            )
        return bool(changed)

    def prepare(self, specs: list[RunSpec]) -> dict[str, BaseException]:
        """The preparation phase: each method's `prepare` for each spec, so everything runs
        share is trained once before the first run. Returns the failures by run id (the runs
        record them); a failed entry is not trained again for the next spec that needs it.
        What another suite process (a shard) is computing is not waited for while there is
        something else to prepare: such specs are tried again after the others, pass after
        pass, and only when a pass gets nowhere does it wait, for the first of them."""
        failed: dict[str, BaseException] = {}
        self.cache.skip_busy = True
        try:
            todo = self._prepare_pass(specs, failed)
            while todo:
                busy = self._prepare_pass(todo, failed)
                if len(busy) == len(todo):  # all of it is being made elsewhere: wait for one
                    self.cache.skip_busy = False
                    self._prepare_pass(busy[:1], failed)
                    self.cache.skip_busy = True
                    busy = busy[1:]
                todo = busy
        finally:
            self.cache.skip_busy = False
        return failed

    def _prepare_pass(
        self, specs: list[RunSpec], failed: dict[str, BaseException]
    ) -> list[RunSpec]:
        """One pass of `prepare`; returns the specs whose shared models another process is
        computing."""
        main = self.accelerator.is_local_main_process
        log = not interactive() and main
        busy: list[RunSpec] = []
        for i, spec in enumerate(bar(specs, desc="prepare", show=main), 1):
            t0 = time.perf_counter()
            try:
                method = get_method(spec.method).from_settings(
                    spec.method_config, f"method '{spec.variant}'"
                )
                method.prepare(self.context(spec))
            except KeyboardInterrupt:
                raise
            except EntryBusy as exc:
                busy.append(spec)
                if log:
                    self.echo(f"[{i}/{len(specs)}] {spec.describe()}: later ({exc})", flush=True)
                continue
            except RUN_ERRORS as exc:
                failed[spec.id] = exc
            seconds = time.perf_counter() - t0
            if log and (
                seconds >= 1 or spec.id in failed
            ):  # what was shared and already made is silent
                what = "failed: " + str(failed[spec.id]) if spec.id in failed else "prepared"
                self.echo(step_line(i, len(specs), spec.describe(), seconds, what), flush=True)
        return busy

    def run_one(self, spec: RunSpec) -> dict[str, Any]:
        acc = self.accelerator
        started = time.perf_counter()
        window = reset_peak_memory(acc.device)
        record = RunRecord.start(spec)
        if spec.limit is not None:
            logger.warning(
                "run %s uses --limit %d: its numbers are NOT comparable results",
                spec.id,
                spec.limit,
            )
        if self.report_to not in (None, "", "none"):
            acc.init_trackers(
                f"{spec.variant}-{spec.target}-{spec.id[:8]}",
                config={k: str(v) for k, v in spec.to_dict().items()},
            )
        fingerprints: dict[str, Any] = {}
        try:
            if spec.id in self._prepare_failed:
                raise self._prepare_failed[spec.id]
            ctx = self.context(spec)
            card = ctx.card
            fingerprints = {spec.target: ctx.data.fingerprints}
            for s in (*spec.sources, *spec.task_set):
                fingerprints[s] = self.store.data(s).fingerprints
            if ctx.pipeline.weights:  # a model replaced under its name: not taken as current
                fingerprints[WEIGHTS_KEY] = {"weights": ctx.pipeline.weights}
            method = get_method(spec.method).from_settings(
                spec.method_config, f"method '{spec.variant}'"
            )
            result = method.run(ctx)
            tr = result.train
            untrained = (result.extra.get("multitask") or {}).get("untrained_heads") or {}
            record.scored(
                floor=constant_baseline(card, ctx.split("test")["labels"]),
                target_card_version=card.content_hash,
                target_tags=list(card.tags),
                metrics=tr.test_metrics,
                primary_metric=card.primary_metric,
                direction=card.direction,
                primary_score=tr.primary,
                validation_metrics=tr.validation_metrics,
                best_epoch=tr.best_epoch,
                curve=tr.curve[-20:],
                steps=tr.steps,
                train_examples=tr.train_examples,
                train_rows=len(ctx.train_indices),
                train_seconds=round(tr.train_seconds, 3),
                throughput=round(tr.throughput, 1),
                extra=result.extra,
                source_history=ctx.encoders.history(),
                untrained_heads=untrained or None,
                predictions=self._write_predictions(spec, ctx, tr.test_predictions),
            )
            if untrained:
                self.echo(
                    f"WARNING: run {spec.id} ({spec.describe()}): heads that did not learn in "
                    f"the multi-task phase: " + "; ".join(f"{k}: {v}" for k, v in untrained.items())
                )
        except KeyboardInterrupt:
            raise
        except RUN_ERRORS as exc:
            kind = (
                "out of memory"
                if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc)
                else type(exc).__name__
            )
            record.fail(f"{kind}: {exc}", traceback.format_exc(limit=6))
            self.echo(f"run {spec.id} ({spec.describe()}) FAILED: {kind}: {exc}")
            if acc.device.type == "cuda":
                torch.cuda.empty_cache()
        finally:
            if self.report_to not in (None, "", "none"):
                # the run's trackers only: `end_training` also destroys the process group,
                # which the next run of a multi-process suite still needs
                for tracker in acc.trackers:
                    tracker.finish()
                acc.trackers = []
        record.wall_seconds = round(time.perf_counter() - started, 3)
        record.peak_memory_mb = peak_memory_mb(acc.device, window)
        record.provenance = provenance(
            acc, fingerprints, {"seed": spec.seed, "source_seed": spec.source_seed}
        )
        record.provenance["method_source"] = method_source(get_method(spec.method))
        record.provenance.update(self.placement)
        pipeline = self._pipelines.get(repr(sorted(spec.backbone.items())))
        if pipeline is not None:  # what the scores depend on beyond the spec: the input pipeline
            record.provenance["pipeline_identity"] = pipeline.identity
            if pipeline.tokenizer_corpus:  # rerun it alone and the vocabulary would differ
                record.provenance["tokenizer_corpus"] = pipeline.tokenizer_corpus
        record.created = now()
        return self._write(record)

    def _write_predictions(
        self, spec: RunSpec, ctx: RunContext, kept: tuple[list, list] | None
    ) -> str | None:
        """The scored split's per-example predictions beside the record (main process);
        returns the file's name, or None when the method kept none (a multi-task score)."""
        if kept is None or not self.accelerator.is_main_process:
            return None if kept is None else predictions_file_name(spec.id)
        rows = ctx.splits.rows("test")
        return write_predictions(self.output_dir / RUNS_DIR, spec.id, rows, *kept)

    def _write(self, run: RunRecord) -> dict[str, Any]:
        """The record as strict JSON, written by the main process; returned as a dict."""
        record = strict_record(run.to_dict())  # strict JSON: a NaN primary score is a failed run
        if self.accelerator.is_main_process:
            write_record(record, self.output_dir)
        return record
