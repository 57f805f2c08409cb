"""How much of a target's label space a source shares: the mark of a domain pair.

A domain pair has the same labels in another domain (movie reviews of two lengths, digits at
two resolutions); a task pair shares none. `label_overlap(source, target)` is the fraction of
the target's label names that the source also has (names compared case-blind, within one
modality), so 1 means every target class name exists in the source, 0 means none; it is not
defined (NaN) for a card without label names (regression, multiple choice) or across
modalities. It is read from the cards, not measured: equal names are a mark of a domain pair,
not proof (two synthetic tasks may both call their classes "negative" and "positive").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd


def _labels(card: Any) -> set[str] | None:
    if getattr(card, "problem", None) != "classification":  # a choice's name is not a class
        return None
    names = getattr(card, "label_names", None)
    return {str(n).strip().lower() for n in names} if names else None


def label_overlap(source: Any, target: Any) -> float:
    """|labels(source) ∩ labels(target)| / |labels(target)|; NaN without label names or across
    modalities (an image class "0" and a text class "0" are not one label)."""
    s, t = _labels(source), _labels(target)
    if not s or not t or getattr(source, "modality", None) != getattr(target, "modality", None):
        return float("nan")
    return len(s & t) / len(t)


def label_overlap_matrix(tasks: Sequence[str], registry: Any) -> pd.DataFrame:
    """Source × target matrix over `tasks` (the diagonal too: a target may be its own source)."""
    cards = {t: registry.get(t) for t in tasks}
    m = pd.DataFrame(np.nan, index=list(tasks), columns=list(tasks))
    for s in tasks:
        for t in tasks:
            m.loc[s, t] = label_overlap(cards[s], cards[t])
    m.index.name, m.columns.name = "source", "target"
    return m
