"""Offline synthetic image tasks whose relatedness the generator controls.

A *family* (`family_seed`) has a bank of smooth anchor patterns. A task's patterns are
`rho * anchor + sqrt(1 - rho^2) * own` (each normalised), with `own` drawn from `task_seed`,
so features that detect one task's patterns serve another in proportion to their
relatedness. Each class is a random sparse mix of the task's patterns; an image is its
class template, randomly shifted, with Gaussian noise, as an 8-bit greyscale picture.
The true relatedness of two tasks is the mean cosine between their matched patterns
(`true_relatedness`); a task with `relatedness: rho` has cosine ~rho with the anchor task.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np


def _smooth_patterns(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """n random smooth patterns (sums of oriented gratings and blobs), unit norm."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = np.zeros((n, size, size))
    for i in range(n):
        theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(1.0, 3.0), rng.uniform(0, 2 * np.pi)
        grating = np.cos(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)
        cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.1, 0.3)
        blob = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r**2))
        p = grating * blob
        p -= p.mean()
        out[i] = p / np.linalg.norm(p)
    return out


@lru_cache(maxsize=16)
def task_patterns(
    relatedness: float, task_seed: int, family_seed: int = 0, n_patterns: int = 8, size: int = 16
) -> np.ndarray:
    """The task's patterns (n_patterns x size x size), unit norm."""
    anchor = _smooth_patterns(np.random.default_rng(30_000 + family_seed), n_patterns, size)
    if relatedness >= 1.0:
        return anchor
    own = _smooth_patterns(
        np.random.default_rng([40_000 + family_seed, task_seed]), n_patterns, size
    )
    mix = relatedness * anchor + math.sqrt(max(0.0, 1 - relatedness**2)) * own
    return mix / np.linalg.norm(mix.reshape(n_patterns, -1), axis=1)[:, None, None]


def true_relatedness(kwargs_a: dict[str, Any], kwargs_b: dict[str, Any]) -> float:
    """Mean cosine between matched patterns of two tasks of one family."""

    def pats(kw: dict[str, Any]) -> np.ndarray:
        return task_patterns(
            kw.get("relatedness", 1.0),
            kw.get("task_seed", 0),
            kw.get("family_seed", 0),
            kw.get("n_patterns", 8),
            kw.get("size", 16),
        )

    a, b = pats(kwargs_a), pats(kwargs_b)
    if a.shape != b.shape:
        return 0.0
    return float(np.mean(np.sum(a.reshape(len(a), -1) * b.reshape(len(b), -1), axis=1)))


def make_split(
    n: int,
    split_seed: int,
    relatedness: float = 1.0,
    task_seed: int = 0,
    family_seed: int = 0,
    num_classes: int = 4,
    n_patterns: int = 8,
    size: int = 16,
    noise: float = 0.6,
    max_shift: int = 2,
) -> dict[str, list]:
    """Rows of one split: 8-bit greyscale images (size x size) and integer labels."""
    pats = task_patterns(relatedness, task_seed, family_seed, n_patterns, size)
    mix_rng = np.random.default_rng([50_000 + family_seed, task_seed])
    weights = mix_rng.standard_normal((num_classes, n_patterns)) * (
        mix_rng.random((num_classes, n_patterns)) < 0.5
    )
    templates = np.einsum("ck,khw->chw", weights, pats)
    templates *= (
        size * 0.25 / np.linalg.norm(templates.reshape(num_classes, -1), axis=1)[:, None, None]
    )
    rng = np.random.default_rng([family_seed, task_seed, split_seed, 7])
    labels = rng.integers(0, num_classes, size=n)
    shifts = rng.integers(-max_shift, max_shift + 1, size=(n, 2))
    images = []
    for y, (dy, dx) in zip(labels, shifts):
        img = np.roll(
            templates[y], (int(dy), int(dx)), axis=(0, 1)
        ) + noise * 0.25 * rng.standard_normal((size, size))
        images.append(np.clip(128 + 255 * img / 2, 0, 255).astype(np.uint8))
    return {"image": images, "label": [int(y) for y in labels]}


def generate(n_train: int = 2000, n_test: int = 500, **kwargs: Any) -> dict[str, Any]:
    """The task's `train` and `test` splits as `datasets.Dataset`s with an Image column."""
    import datasets
    from PIL import Image

    out = {}
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        cols = make_split(n, seed, **kwargs)
        names = [str(i) for i in range(kwargs.get("num_classes", 4))]
        features = datasets.Features(
            {"image": datasets.Image(), "label": datasets.ClassLabel(names=names)}
        )
        cols["image"] = [Image.fromarray(a, mode="L") for a in cols["image"]]
        out[split] = datasets.Dataset.from_dict(cols, features=features)
    return out
