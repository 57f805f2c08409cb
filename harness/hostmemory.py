"""Host memory of CPU runs: glibc's allocator (fewer fragmented gigabytes, per-run peaks) and
torch's oneDNN kernels (a per-shape primitive cache), switched per model.

A fine-tuning run on real text allocates activations whose sizes change with every batch
length (dynamic padding). glibc serves blocks under its *dynamic* mmap threshold (which
climbs to 32 MB) from the heap, where differently sized activations leave holes the process
keeps: the peak grows by hundreds of MB over a run with no more live tensors. Pinning the
threshold at 16 MB returns the largest activations (the attention probabilities and the
feed-forward activations of long batches) to the system when freed, at no measurable cost in
time; `malloc_trim` hands back what earlier runs left free before a run's peak is measured.

Elsewhere than glibc (macOS, musl) both are no-ops. `MALLOC_MMAP_THRESHOLD_`, when set, wins.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import torch
from torch import nn

M_MMAP_THRESHOLD = -3  # mallopt parameter (malloc.h)
MMAP_THRESHOLD_BYTES = 16 * 2**20


@lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 -- glibc has both; musl lacks mallopt
    except (OSError, AttributeError):
        return None
    return libc


@lru_cache(maxsize=1)
def tune_allocator() -> bool:
    """Pin glibc's mmap threshold (once per process). Returns whether it was set here."""
    libc = _libc()
    if libc is None or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))


def release_free_memory() -> None:
    """Give the heap's free pages back to the system (before a run's peak window opens)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@contextlib.contextmanager
def onednn_enabled(enabled: bool) -> Iterator[None]:
    """torch's oneDNN kernels on or off for the block (its `flags()` also resets TF32 and warns)."""
    before = torch.backends.mkldnn.enabled
    torch.backends.mkldnn.enabled = enabled
    try:
        yield
    finally:
        torch.backends.mkldnn.enabled = before


def onednn_pays(model: nn.Module, accelerator: Any) -> bool:
    """Whether to leave torch's oneDNN kernels on while `model` trains or encodes. On a CPU in
    float32 they run a model's convolutions; a model without any (a transformer) uses them only
    for element-wise ops such as GELU, where ATen's own kernels are as fast, and oneDNN caches a
    primitive per input shape (up to 1,024) with buffers the size of its tensors: under dynamic
    padding ~600 MB more peak memory for MiniLM on RTE (bench/bench_memory_vs_trainer.py).
    Mixed precision keeps them (bf16 matrix products on the CPU go through oneDNN), and so do
    convolutional models (bounding the cache instead cost the quick suite 15 % of its time)."""
    if accelerator.device.type != "cpu" or str(accelerator.mixed_precision) != "no":
        return True
    return any(isinstance(m, nn.modules.conv._ConvNd) for m in model.modules())
