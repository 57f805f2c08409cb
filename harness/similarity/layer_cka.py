"""Layer-by-layer similarity of two task-trained encoders (#20): linear CKA (Kornblith et al.
2019, as `measures/cka.py`) between every layer of one and every layer of the other, on the
SAME probe rows, and the depth at which they part ways.

For a source → target pair, encoder A is the encoder trained on the source and encoder B the
one trained on the target as a source (the same cached source-training machinery: a target of
the suite is a source of the other tasks for the transfer measures, so its encoder is trained
by `transferbench similarity` already). The probe rows are the target's validation split,
capped at `PROBE_ROWS` (a seeded, stratified sample); each encoder reads them in ONE forward
pass that keeps every layer (`harness.layers.layer_features`). Nothing is trained here: a pair
whose encoders are not in the cache is skipped, with the reason.

Layers are counted from 1 (the stem) to n (the encoder's own output), as `copy_first_n` counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.similarity.compute import SimilarityComputer

# CKA halfway between the same representation up to rotation and scale (1) and none of its
# structure shared (0): below it the two layers share less than half of their centred
# similarity structure. A convention, not a calibrated threshold: every diagonal value is
# written beside the depth, so another level can be read off.
DEFAULT_LEVEL = 0.5
# probe rows per target: enough for a stable linear CKA, few enough that each encoder's pass
# (and the rows × rows Gram matrices) stays small
PROBE_ROWS = 500


def _centred_gram(x: torch.Tensor | np.ndarray, where: str) -> np.ndarray:
    x = np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x, dtype=np.float64)
    if x.ndim != 2:
        raise ConfigError(f"{where}: expected features of shape (rows, dim), got {x.shape}")
    x = x - x.mean(axis=0)
    return x @ x.T


def cka_matrix(layers_a: list[torch.Tensor], layers_b: list[torch.Tensor]) -> np.ndarray:
    """Linear CKA between every layer of encoder A (rows) and every layer of encoder B
    (columns), features of the SAME rows: an (n_a, n_b) array in [0, 1]. Computed through the
    rows × rows Gram matrices, ||Yc^T Xc||_F² = <Xc Xc^T, Yc Yc^T>_F, so each layer's Gram is
    formed once (the same value as `measures.cka.linear_cka`; 0.0 where a layer is constant)."""
    if not layers_a or not layers_b:
        raise ConfigError(
            f"cka_matrix: no layers (encoder A has {len(layers_a)}, B {len(layers_b)})"
        )
    rows = {len(x) for x in [*layers_a, *layers_b]}
    if len(rows) != 1 or min(rows) < 2:
        raise ConfigError(
            f"cka_matrix: every layer must hold features of the same rows (>= 2); got row "
            f"counts {[len(x) for x in layers_a]} (A) and {[len(x) for x in layers_b]} (B)"
        )
    grams_a = [_centred_gram(x, f"encoder A layer {k}") for k, x in enumerate(layers_a, 1)]
    grams_b = [_centred_gram(y, f"encoder B layer {k}") for k, y in enumerate(layers_b, 1)]
    norms_a = [np.linalg.norm(g) for g in grams_a]
    norms_b = [np.linalg.norm(g) for g in grams_b]
    out = np.zeros((len(grams_a), len(grams_b)))
    for i, (ka, na) in enumerate(zip(grams_a, norms_a)):
        for j, (kb, nb) in enumerate(zip(grams_b, norms_b)):
            if na > 0.0 and nb > 0.0:
                out[i, j] = float(np.sum(ka * kb)) / (na * nb)
    return np.clip(out, 0.0, 1.0)  # in [0, 1] exactly; the clip removes rounding only


def parting_depth(matrix: np.ndarray, level: float = DEFAULT_LEVEL) -> int | None:
    """The first layer k (1-based) whose same-layer CKA(k, k) falls below `level`: where the
    two encoders part ways. None if no layer does."""
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:
        raise ConfigError(
            f"parting_depth: expected a square layers × layers CKA matrix, got shape {m.shape}"
        )
    if not 0.0 <= level <= 1.0:
        raise ConfigError(f"parting_depth: level must be in [0, 1] (CKA's range), got {level}")
    below = np.flatnonzero(np.diagonal(m) < level)
    return int(below[0]) + 1 if below.size else None


@dataclass
class LayerCKA:
    """One source → target pair: the CKA of every layer of the source-trained encoder (rows)
    against every layer of the target-trained encoder (columns) on the target's probe rows."""

    source: str
    target: str
    matrix: np.ndarray
    probe_rows: int
    level: float = DEFAULT_LEVEL

    @property
    def pair(self) -> str:
        return f"{self.source}→{self.target}"

    @property
    def parting(self) -> int | None:
        return parting_depth(self.matrix, self.level)


def probe_rows(ctx: Any, cap: int = PROBE_ROWS) -> list[int]:
    """The probe rows of the context's target: its validation split (as the run uses it),
    capped at `cap` rows by a seeded, stratified sample."""
    from harness.data.subsets import EVAL_SAMPLE_SEED, stratified_sample

    labels = ctx.split("validation")["labels"]
    return stratified_sample(labels, cap, EVAL_SAMPLE_SEED, ctx.card.has_classes)


@torch.no_grad()
def probe_layers(ctx: Any, encoder: Any, rows: list[int]) -> list[torch.Tensor]:
    """Every layer's pooled features of the target's probe rows under `encoder`: one forward
    pass over the rows (in evaluation batches), layer 1 to n."""
    from torch.utils.data import DataLoader

    from harness.layers import layer_features

    acc = ctx.accelerator
    encoder = encoder.to(acc.device).eval()
    loader = DataLoader(
        ctx.split("validation").select(rows),
        batch_size=ctx.budget.per_device_eval_batch_size,
        collate_fn=ctx.pipeline.collate,
    )
    batches = []
    for batch in loader:
        batch.pop("labels", None)
        with acc.autocast():
            out = layer_features(encoder, **{k: v.to(acc.device) for k, v in batch.items()})
        batches.append([f.float().cpu() for f in out])
    return [torch.cat(layer) for layer in zip(*batches)]


def source_trained(ctx: Any) -> bool:
    """Whether the encoder trained on the context's sources is in the cache (looked up as
    `Encoders.source` names its entry), so reading it trains nothing."""
    from harness.cache import DONE

    folder = ctx.cache.folder(
        "sources", ctx.encoders.source_parts(), "+".join(ctx.spec.sources)[:80]
    )
    return (folder / DONE).exists()


def layer_cka_pairs(
    computer: SimilarityComputer,
    tasks: list[str],
    pairs: set[tuple[str, str]] | None = None,
    level: float = DEFAULT_LEVEL,
    cap: int = PROBE_ROWS,
) -> tuple[list[LayerCKA], list[str]]:
    """The layer CKA of every source → target pair of `tasks` (one modality; only `pairs` when
    given) whose two task-trained encoders are cached, and why each other pair was skipped.
    Each target's probe rows are read once by its own encoder and once by each source's."""
    results: list[LayerCKA] = []
    skipped: list[str] = []
    for t in tasks:
        sources = [s for s in tasks if s != t and (pairs is None or (s, t) in pairs)]
        if not sources:
            continue
        if na := computer.not_defined(t):
            skipped += [f"{s}→{t}: {na.reason}" for s in sources]
            continue
        own_ctx = computer.context(t, (t,))
        if not source_trained(own_ctx):
            skipped += [f"{s}→{t}: no cached encoder trained on '{t}'" for s in sources]
            continue
        rows = probe_rows(own_ctx, cap)
        if len(rows) < 2:
            skipped += [f"{s}→{t}: '{t}' has {len(rows)} validation row(s)" for s in sources]
            continue
        own = probe_layers(own_ctx, own_ctx.start_encoder(), rows)
        for s in sources:
            ctx = computer.context(t, (s,))
            if not source_trained(ctx):
                skipped.append(f"{s}→{t}: no cached encoder trained on '{s}'")
                continue
            theirs = probe_layers(ctx, ctx.start_encoder(), rows)
            results.append(LayerCKA(s, t, cka_matrix(theirs, own), len(rows), level))
    return results, skipped
