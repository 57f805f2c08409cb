"""The known relatedness of two synthetic tasks, from their generators (the ground truth the
similarity measures are tested against)."""

from __future__ import annotations

from harness.cards import TaskCard
from harness.registry import import_object


def known_relatedness(a: TaskCard, b: TaskCard) -> float | None:
    """The generator's `true_relatedness(kwargs_a, kwargs_b)` when both cards come from the same
    generator module and it defines one; else None (real tasks have no known relatedness)."""
    ga, gb = a.data.get("generator"), b.data.get("generator")
    if not ga or not gb:
        return None
    module_a, module_b = ga["function"].partition(":")[0], gb["function"].partition(":")[0]
    if module_a != module_b or module_a.endswith(".py"):
        return None
    try:
        fn = import_object(f"{module_a}:true_relatedness")
    except Exception:  # noqa: BLE001 - a generator without a ground truth
        return None
    return float(fn(dict(ga.get("kwargs") or {}), dict(gb.get("kwargs") or {})))
