"""Compute similarity measures for a set of tasks, from the caches the runs use.

- `pair` measures see every task through the reference encoder: the backbone's own
  initialisation (pretrained weights, or a preset's seeded random init);
- `transfer` measures see each target through each source-trained encoder — the same cached
  source encoder a transfer run with this backbone, source budget, seed and `--limit` trains
  (nothing is trained or encoded twice) — and, for LEEP and NCE, through the source's head.

Features are each task's training rows (the cached full-split features), subsampled to at most
`max_rows` rows, seeded and stratified, the same rows for every measure.

Every score comes with a `status`: `ok`; `not applicable` (the measure does not apply, e.g. LEEP
from a regression source: the score is legitimately missing); or `failed` (the measure raised, or
returned NaN: the score is missing because something went wrong), with the `reason`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import torch

from harness.data.subsets import stratified_sample
from harness.similarity.registry import MeasureSpec, NotApplicable, TaskView, discover_measures
from harness.spec import Budget, RunSpec

# baselines computed beside the transfer measures (not registered: they ignore the target)
FLOORS = ("floor_source_size", "floor_source_score")

OK, NOT_APPLICABLE, FAILED = "ok", "not applicable", "failed"  # a score's status
COLUMNS = ["source", "target", "score", "status", "reason"]


class Scored(NamedTuple):
    """One measure's value on one pair: the score (NaN unless `ok`), its status and the reason."""

    score: float
    status: str = OK
    reason: str = ""

    def row(self, source: str, target: str) -> dict[str, Any]:
        return {
            "source": source,
            "target": target,
            "score": self.score,
            "status": self.status,
            "reason": self.reason,
        }


@dataclass
class SimilaritySetup:
    """Which encoders the measures use: the backbone, and how sources are trained."""

    backbone: dict[str, Any]
    source_budget: dict[str, Any] = field(default_factory=lambda: dataclasses.asdict(Budget()))
    source_seed: int = 0
    seed: int = 0  # the reference encoder's seed (random-init presets)
    limit: int | None = None
    max_rows: int = 1000
    caps: dict[str, int] = field(
        default_factory=dict
    )  # max_train/eval/test_samples, as the suite's


def task_spec(
    setup: SimilaritySetup, target: str, sources: tuple[str, ...], versions: dict[str, str]
) -> RunSpec:
    """A spec that makes the run context of `target` (from `sources`) under the setup."""
    return RunSpec(
        backbone=setup.backbone,
        sources=sources,
        method="feature_extraction",
        variant="similarity",
        method_config={},
        target=target,
        fraction=1.0,
        seed=setup.seed,
        budget=setup.source_budget,
        source_budget=setup.source_budget,
        source_seed=setup.source_seed,
        limit=setup.limit,
        task_versions=versions,
        **setup.caps,
    )


def _view(ctx: Any, encoder: torch.nn.Module, max_rows: int) -> tuple[TaskView, np.ndarray]:
    feats, labels = ctx.features(encoder, "train")
    classification = ctx.card.problem == "classification"
    rows = np.arange(len(labels))
    if len(rows) > max_rows:
        rows = np.array(stratified_sample(labels.tolist(), max_rows, 0, classification))
    view = TaskView(
        name=ctx.card.name,
        features=feats[rows].double().numpy(),
        labels=labels[rows].numpy(),
        problem=ctx.card.problem,
        num_classes=ctx.card.num_labels if classification else 0,
    )
    return view, rows


class SimilarityComputer:
    """Computes measures with a `Workspace`'s caches, registry and accelerator."""

    def __init__(self, workspace: Any, setup: SimilaritySetup):
        self.workspace = workspace
        self.setup = setup
        self.registry = workspace.registry

    def context(self, target: str, sources: tuple[str, ...] = ()) -> Any:
        versions = {n: self.registry.get(n).content_hash for n in (target, *sources)}
        return self.workspace.context(task_spec(self.setup, target, sources, versions))

    def reference_views(self, tasks: list[str]) -> dict[str, TaskView]:
        views = {}
        for t in tasks:
            ctx = self.context(t)
            views[t] = _view(ctx, ctx.base_encoder(), self.setup.max_rows)[0]
        return views

    def probe_views(self, a: str, b: str) -> tuple[TaskView, TaskView]:
        """The same probe rows (up to `max_rows / 2` training rows of each task) under an encoder
        trained on `a` and under one trained on `b` (each the cached source encoder of that
        task, so a task that is also a source in the suite is not trained again)."""
        half = max(2, self.setup.max_rows // 2)

        def feats(rows_of: str, model_of: str) -> np.ndarray:
            ctx = self.context(rows_of, (model_of,))
            feats, labels = ctx.features(ctx.start_encoder(), "train")
            rows = np.arange(len(labels))
            if len(rows) > half:
                rows = np.array(
                    stratified_sample(
                        labels.tolist(), half, 0, ctx.card.problem == "classification"
                    )
                )
            return feats[rows].double().numpy()

        xa = np.concatenate([feats(a, a), feats(b, a)])
        xb = np.concatenate([feats(a, b), feats(b, b)])
        return TaskView(name=a, features=xa, labels=np.zeros(len(xa))), TaskView(
            name=b, features=xb, labels=np.zeros(len(xb))
        )

    def transfer_view(self, source: str, target: str) -> tuple[TaskView, np.ndarray | None]:
        """The target's rows under the source-trained encoder, and the source head's class
        probabilities on them (None when the source is a regression task)."""
        ctx = self.context(target, (source,))
        encoder = ctx.start_encoder()
        view, rows = _view(ctx, encoder, self.setup.max_rows)
        if self.registry.get(source).problem != "classification":
            return view, None
        head = ctx.encoders.source_head(encoder.feature_dim).eval()
        with torch.no_grad():
            logits = head(torch.as_tensor(view.features, dtype=torch.float32))
        return view, torch.softmax(logits.double(), dim=-1).numpy()

    def compute(
        self, tasks: list[str], measures: list[str] | None = None
    ) -> dict[str, pd.DataFrame]:
        """Every measure's matrix as a long frame (source, target, score, status, reason);
        `pair` measures list both orders of each pair and the diagonal."""
        # a preset's tokenizer is built from every task it will see (as a suite's is)
        self.workspace.register_corpus(self.setup.backbone, tasks)
        reg = discover_measures()
        specs = [reg.get(n) for n in measures or reg.names()]
        specs = [s for s in specs if s.kind != "recorded"]  # read from records by the command
        out: dict[str, list[dict[str, Any]]] = {s.name: [] for s in specs}
        models = [s for s in specs if s.kind == "pair" and s.needs_task_models]
        pair = [s for s in specs if s.kind == "pair" and not s.needs_task_models]
        transfer = [s for s in specs if s.kind == "transfer"]
        if models:
            self._task_model_rows(tasks, models, out)
        if pair:
            self._reference_rows(tasks, pair, out)
        if transfer:
            self._transfer_rows(tasks, transfer, out)
        return {n: pd.DataFrame(rows, columns=COLUMNS) for n, rows in out.items()}

    def _task_model_rows(self, tasks: list[str], models: list, out: dict[str, list]) -> None:
        """Pair measures on two task-trained encoders (each unordered pair, both orders)."""
        for i, a in enumerate(tasks):
            for b in tasks[i + 1 :]:
                if self.registry.get(a).modality != self.registry.get(b).modality:
                    continue
                if na := self.not_defined(a, b):
                    for spec in models:
                        out[spec.name] += [na.row(a, b), na.row(b, a)]
                    continue
                va, vb = self.probe_views(a, b)
                for spec in models:
                    scored = _score(spec, va, vb)
                    out[spec.name] += [scored.row(a, b), scored.row(b, a)]

    def _reference_rows(self, tasks: list[str], pair: list, out: dict[str, list]) -> None:
        """Pair measures on the reference encoder's features (the diagonal included)."""
        views = self.reference_views([t for t in tasks if not self.not_defined(t)])
        self.views = views  # kept for drawing the covariance matrices
        for i, a in enumerate(tasks):
            for b in tasks[i:]:
                for spec in pair:
                    scored = self.not_defined(a, b) or _score(spec, views[a], views[b])
                    out[spec.name].append(scored.row(a, b))
                    if a != b:
                        out[spec.name].append(scored.row(b, a))

    def _transfer_rows(self, tasks: list[str], transfer: list, out: dict[str, list]) -> None:
        """Transferability measures through each source's model on each target, and the floors."""
        for name in FLOORS:
            out[name] = []
        for t in tasks:
            for s in tasks:
                if s == t or self.registry.get(s).modality != self.registry.get(t).modality:
                    continue
                if na := self.not_defined(t):  # a multiple-choice source is fine
                    for spec in transfer:
                        out[spec.name].append(na.row(s, t))
                    continue
                view, probs = self.transfer_view(s, t)
                for spec in transfer:
                    out[spec.name].append(_score(spec, view, probs).row(s, t))
                for name, score in self.floors(s, t).items():
                    status = OK if not math.isnan(score) else NOT_APPLICABLE
                    reason = "" if status == OK else "no source training history"
                    out[name].append(Scored(score, status, reason).row(s, t))

    def score_sources(self, target: str, sources: list[str], measure: str) -> pd.DataFrame:
        """One measure for each source -> target pair (a pair measure on reference features)."""
        self.workspace.register_corpus(self.setup.backbone, [target, *sources])
        spec = discover_measures().get(measure)
        rows = []
        if spec.kind == "pair":
            views = self.reference_views([t for t in (target, *sources) if not self.not_defined(t)])
        for s in sources:
            if na := self.not_defined(target, *([s] if spec.kind == "pair" else [])):
                scored = na
            elif spec.kind == "pair":
                scored = _score(spec, views[s], views[target])
            else:
                scored = _score(spec, *self.transfer_view(s, target))
            rows.append(scored.row(s, target))
        return pd.DataFrame(rows, columns=COLUMNS)

    def not_defined(self, *tasks: str) -> Scored | None:
        """`not applicable` where a task's rows have no single feature vector: a
        multiple-choice row has one per choice, which the measures do not take."""
        for t in tasks:
            if getattr(self.registry.get(t), "problem", None) == "multiple_choice":
                return Scored(
                    math.nan,
                    NOT_APPLICABLE,
                    f"'{t}' is multiple choice: a row has "
                    "one feature vector per choice, the measures take one per row",
                )
        return None

    def floors(self, source: str, target: str) -> dict[str, float]:
        """The dataset-agnostic floors every measure must beat: rank sources by their size, or
        by their own score after source training, whatever the target."""
        ctx = self.context(target, (source,))
        history = ctx.encoders.history()
        card = self.registry.get(source)
        own = history[-1]["score"] if history else math.nan
        return {
            "floor_source_size": float(len(ctx.store.data(source).train)),
            "floor_source_score": own if card.direction == "max" else -own,
        }


def _score(spec: MeasureSpec, *args: Any) -> Scored:
    """The measure's value; NaN and `not applicable` where it does not apply (LEEP for a
    regression source), NaN and `failed` with the reason where the measure raised or gave NaN."""
    if spec.kind == "transfer" and spec.needs_source_probs and args[1] is None:
        return Scored(math.nan, NOT_APPLICABLE, f"{spec.name} needs a classification source")
    try:
        score = float(spec.fn(*args))
    except NotApplicable as exc:
        return Scored(math.nan, NOT_APPLICABLE, str(exc))
    except Exception as exc:  # any error of a measure is reported as a failure, with its reason
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, for the tables
        return Scored(math.nan, FAILED, reason)
    if math.isnan(score):
        return Scored(math.nan, FAILED, f"{spec.name} returned NaN")
    return Scored(score)


def as_matrix(frame: pd.DataFrame, show_failures: bool = False) -> pd.DataFrame:
    """A long (source, target, score) frame as a source × target matrix. With `show_failures`,
    a failed cell reads `failed: <reason>` instead of NaN (a missing cell stays NaN)."""
    m = frame.pivot(index="source", columns="target", values="score")
    if show_failures and "status" in frame.columns and (frame["status"] == FAILED).any():
        failed = frame[frame["status"] == FAILED]
        m = m.astype(object)
        for s, t, reason in zip(failed["source"], failed["target"], failed["reason"]):
            m.loc[s, t] = f"{FAILED}: {reason}"
    m.index.name, m.columns.name = "source", "target"
    return m


def failures(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every failed score: (measure, source, target, reason), one row each."""
    rows = []
    for name, frame in frames.items():
        if "status" not in frame.columns:  # read from records: no status
            continue
        failed = frame[frame["status"] == FAILED]
        for s, t, r in zip(failed["source"], failed["target"], failed["reason"]):
            rows.append({"measure": name, "source": s, "target": t, "reason": r})
    return pd.DataFrame(rows, columns=["measure", "source", "target", "reason"])


def failure_summary(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The failures by measure and reason: how many of the measure's pairs, and which."""
    failed = failures(frames)
    rows = []
    for (name, reason), group in failed.groupby(["measure", "reason"], sort=True):
        pairs = [f"{s}→{t}" for s, t in zip(group["source"], group["target"])]
        shown = ", ".join(pairs[:3]) + (f" and {len(pairs) - 3} more" if len(pairs) > 3 else "")
        reason = reason if len(reason) <= 300 else reason[:297] + "..."  # whole in failures()
        total = len(frames[name])
        rows.append(
            {
                "measure": name,
                "failed": f"{len(pairs)} of {total} pairs",
                "reason": reason,
                "pairs": shown,
            }
        )
    return pd.DataFrame(rows, columns=["measure", "failed", "reason", "pairs"])
