"""Metrics, computed through `evaluate`'s interface from modules shipped in this package.

`METRICS` maps the names used in task cards to the local `evaluate` module that computes
them, the key of its result, its direction and the problems it applies to. Nothing here
touches the Hub: `evaluate.load` is given the path of a module folder under `modules/`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import UnknownNameError
from harness.registry import did_you_mean

if TYPE_CHECKING:
    import evaluate

    from harness.cards import TaskCard

MODULES_DIR = Path(__file__).parent / "modules"


@dataclass(frozen=True)
class MetricSpec:
    """How to compute one card-level metric."""

    name: str
    module: str
    key: str
    direction: str
    problems: tuple[str, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    config_name: str | None = None


_CLS = ("classification", "multiple_choice")
_REG = ("regression",)
METRICS: dict[str, MetricSpec] = {
    s.name: s
    for s in [
        MetricSpec("accuracy", "accuracy", "accuracy", "max", _CLS),
        MetricSpec("f1", "f1", "f1", "max", _CLS),
        MetricSpec("macro_f1", "f1", "f1", "max", _CLS, {"average": "macro"}),
        MetricSpec("mcc", "matthews_correlation", "matthews_correlation", "max", _CLS),
        MetricSpec("pearson", "pearsonr", "pearsonr", "max", _REG),
        MetricSpec("spearman", "spearmanr", "spearmanr", "max", _REG),
        MetricSpec("mse", "mse", "mse", "min", _REG),
    ]
}


def metric_spec(name: str) -> MetricSpec:
    if name not in METRICS:
        raise UnknownNameError(f"unknown metric '{name}'.{did_you_mean(name, sorted(METRICS))}")
    return METRICS[name]


@cache
def load_module(module: str, config_name: str | None = None) -> evaluate.EvaluationModule:
    """Load a shipped `evaluate` module by folder name (cached per process)."""
    import evaluate

    path = MODULES_DIR / module
    if not path.is_dir():
        raise UnknownNameError(f"no metric module '{module}' in {MODULES_DIR}")
    # in memory: no Arrow cache files or locks; metrics are computed on gathered predictions
    if config_name:
        return evaluate.load(str(path), config_name, keep_in_memory=True)
    return evaluate.load(str(path), keep_in_memory=True)


def compute_metric(name: str, predictions: Sequence, references: Sequence) -> float:
    """Compute one named metric on predictions and references."""
    spec = metric_spec(name)
    module = load_module(spec.module, spec.config_name)
    result = module.compute(
        predictions=list(predictions), references=list(references), **spec.kwargs
    )
    return float(result[spec.key])


def compute_metrics(
    card: TaskCard, predictions: Sequence, references: Sequence
) -> dict[str, float]:
    """Every metric a card names, keyed by its card name."""
    return {name: compute_metric(name, predictions, references) for name in card.metrics}


def is_better(card_or_direction: TaskCard | str, new: float, old: float | None) -> bool:
    """Whether `new` beats `old` under the card's (or the given) direction."""
    direction = (
        card_or_direction if isinstance(card_or_direction, str) else card_or_direction.direction
    )
    if old is None:
        return True
    return new > old if direction == "max" else new < old
