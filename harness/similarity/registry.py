"""The measure registry. A measure is one module in `harness/similarity/measures/` that
registers a `MeasureSpec` whose `fn` is a pure function of NumPy arrays.

Kinds and the arguments their `fn` takes:

- `pair` (task × task, symmetric): `fn(a: TaskView, b: TaskView) -> float`, both tasks seen
  through the same reference encoder (feature covariance, mean embedding, Task2Vec); or, with
  `needs_task_models`, the same probe rows (half from each task) seen through an encoder
  trained on `a` and one trained on `b` (CKA);
- `transfer` (source → target): `fn(target: TaskView, source_probs: np.ndarray | None) -> float`,
  the target's rows seen through the source-trained encoder, and (for LEEP / NCE) the source
  head's class probabilities on those rows (LogME, LEEP, H-score, NCE, GBC, k-NN probe);
- `recorded` (task × task): `fn(records) -> DataFrame(source, target, score)`, read from what the
  runs recorded rather than computed from features (gradient cosine from `mtdnn` runs).

A measure that does not apply to its inputs (a classification measure on a regression target)
raises `NotApplicable`: the value is missing, as it should be. Any other exception is a failure,
reported as such with its reason (see `harness.similarity.compute`).

`higher_is_similar` says the sign: every score is reported so that larger means "more similar /
more transferable" (a distance is negated by its measure). `cheap` measures need only cached
features and run in the `quick` suite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.registry import Registry

KINDS = ("pair", "transfer", "recorded")


class NotApplicable(ValueError):
    """The measure does not apply to these tasks (e.g. LEEP on a regression target): its value is
    legitimately missing, not failed."""


@dataclass(frozen=True)
class TaskView:
    """What a measure sees of one task: its rows' features under some encoder, and labels."""

    name: str
    features: np.ndarray  # [n, d] float
    labels: np.ndarray  # [n] int class positions, or float targets for regression
    problem: str = "classification"  # classification | regression
    num_classes: int = 0  # 0 for regression

    @property
    def is_classification(self) -> bool:
        return self.problem == "classification"


@dataclass(frozen=True)
class MeasureSpec:
    name: str
    kind: str  # pair | transfer
    fn: Callable[..., float]
    description: str
    cheap: bool = True
    needs_source_probs: bool = False
    needs_task_models: bool = False  # pair: the same probe rows under each task's trained encoder
    reference: str = ""  # the paper

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"measure {self.name}: kind must be one of {KINDS}, got {self.kind!r}")


MEASURES: Registry[MeasureSpec] = Registry("similarity measure")
_discovered = False


def register_measure(spec: MeasureSpec) -> MeasureSpec:
    MEASURES.register(spec.name, spec)
    return spec


def discover_measures() -> Registry[MeasureSpec]:
    """Import every module in `harness/similarity/measures/`."""
    global _discovered
    if not _discovered:
        import importlib
        import pkgutil

        from harness.similarity import measures

        for info in pkgutil.iter_modules(measures.__path__):
            importlib.import_module(f"harness.similarity.measures.{info.name}")
        _discovered = True
    return MEASURES


def describe_measures() -> list[dict[str, Any]]:
    reg = discover_measures()
    return [
        {
            "name": n,
            "kind": reg.get(n).kind,
            "cheap": "yes" if reg.get(n).cheap else "no",
            "description": reg.get(n).description,
            "reference": reg.get(n).reference,
        }
        for n in reg.names()
    ]
