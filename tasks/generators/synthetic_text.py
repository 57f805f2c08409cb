"""Offline synthetic text tasks in the GLUE shape, with a relatedness the generator controls.

A *family* (fixed by `family_seed`) is a vocabulary of pseudo-words, each with a latent
vector in R^dim, and an anchor direction `a`. A *task* has its own direction
`w = rho * a + sqrt(1 - rho^2) * u`, with `u` a unit vector orthogonal to `a` drawn from
`task_seed`. A sentence is a bag of words; its score is `w . mean(word vectors)`:

- `kind: single`     label = score > 0                      (SST-2 shape)
- `kind: pair`       label = score(s1) > score(s2)          (MRPC/RTE shape)
- `kind: regression` label = 5 * sigmoid(gain * (score(s1) + score(s2)) / 2)   (STS-B shape)
- `kind: choice`     a context sentence and `choices` candidate sentences (`choice0`, ...);
                     label = the position of the candidate with the highest score, so the
                     context is a distractor and the shared scorer must learn `w` (COPA/SWAG
                     shape: a multiple-choice task)

The true relatedness of two tasks of one family is the cosine of their directions
(`true_relatedness`): a task with `relatedness: 1` is the anchor itself, and the cosine
between the anchor and a task with `relatedness: rho` is exactly rho.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"


@lru_cache(maxsize=8)
def family(
    family_seed: int = 0, vocab_size: int = 300, dim: int = 8
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Words, their latent vectors (vocab_size x dim) and the anchor direction of a family."""
    rng = np.random.default_rng(10_000 + family_seed)
    words: list[str] = []
    seen = set()
    while len(words) < vocab_size:
        n_syll = int(rng.integers(2, 4))
        word = "".join(
            CONSONANTS[rng.integers(len(CONSONANTS))] + VOWELS[rng.integers(len(VOWELS))]
            for _ in range(n_syll)
        )
        if word not in seen:
            seen.add(word)
            words.append(word)
    vectors = rng.standard_normal((vocab_size, dim))
    anchor = rng.standard_normal(dim)
    return tuple(words), vectors, anchor / np.linalg.norm(anchor)


def task_direction(
    relatedness: float, task_seed: int, family_seed: int = 0, vocab_size: int = 300, dim: int = 8
) -> np.ndarray:
    """The unit direction of a task whose cosine with the family anchor is `relatedness`."""
    if not -1.0 <= relatedness <= 1.0:
        raise ValueError(f"relatedness must be in [-1, 1], got {relatedness}")
    _, _, anchor = family(family_seed, vocab_size, dim)
    rng = np.random.default_rng(20_000 + task_seed)
    u = rng.standard_normal(dim)
    u -= (u @ anchor) * anchor
    u /= np.linalg.norm(u)
    return relatedness * anchor + math.sqrt(max(0.0, 1 - relatedness**2)) * u


def true_relatedness(kwargs_a: dict[str, Any], kwargs_b: dict[str, Any]) -> float:
    """Cosine between the directions of two tasks (their generator kwargs) of one family."""
    keys = ("family_seed", "vocab_size", "dim")
    fam_a = {k: kwargs_a.get(k, d) for k, d in zip(keys, (0, 300, 8))}
    fam_b = {k: kwargs_b.get(k, d) for k, d in zip(keys, (0, 300, 8))}
    if fam_a != fam_b:
        return 0.0
    wa = task_direction(kwargs_a.get("relatedness", 1.0), kwargs_a.get("task_seed", 0), **fam_a)
    wb = task_direction(kwargs_b.get("relatedness", 1.0), kwargs_b.get("task_seed", 0), **fam_b)
    return float(wa @ wb)


def _sentences(
    rng: np.random.Generator, n: int, vocab_size: int, length: tuple[int, int]
) -> list[np.ndarray]:
    lengths = rng.integers(length[0], length[1] + 1, size=n)
    return [rng.integers(0, vocab_size, size=int(k)) for k in lengths]


def make_split(
    n: int,
    split_seed: int,
    kind: str = "single",
    relatedness: float = 1.0,
    task_seed: int = 0,
    family_seed: int = 0,
    vocab_size: int = 300,
    dim: int = 8,
    length: tuple[int, int] = (6, 14),
    label_noise: float = 0.0,
    gain: float = 3.0,
    choices: int = 3,
) -> dict[str, list]:
    """Rows of one split as a column dict (`sentence`, `sentence1`/`sentence2`, or `context`
    and `choice0`... for `kind: choice`; then `label`)."""
    words, vectors, _ = family(family_seed, vocab_size, dim)
    w = task_direction(relatedness, task_seed, family_seed, vocab_size, dim)
    rng = np.random.default_rng([family_seed, task_seed, split_seed])
    word_scores = vectors @ w
    first = _sentences(rng, n, vocab_size, length)
    s1 = np.array([word_scores[s].mean() for s in first])
    text1 = [" ".join(words[i] for i in s) for s in first]
    if kind == "single":
        labels = (s1 > 0).astype(int)
        cols: dict[str, list] = {"sentence": text1}
    elif kind in ("pair", "regression"):
        second = _sentences(rng, n, vocab_size, length)
        s2 = np.array([word_scores[s].mean() for s in second])
        cols = {"sentence1": text1, "sentence2": [" ".join(words[i] for i in s) for s in second]}
        if kind == "pair":
            labels = (s1 > s2).astype(int)
        else:
            scale = math.sqrt(2.0 / np.mean(length))  # std of the mean score
            labels = 5.0 / (1.0 + np.exp(-gain * (s1 + s2) / 2 / scale))
    elif kind == "choice":
        candidates = [_sentences(rng, n, vocab_size, length) for _ in range(choices)]
        scores = np.array([[word_scores[s].mean() for s in c] for c in candidates])
        cols = {"context": text1}
        for j, c in enumerate(candidates):
            cols[f"choice{j}"] = [" ".join(words[i] for i in s) for s in c]
        labels = scores.argmax(0)
    else:
        raise ValueError(f"unknown kind {kind!r}; use single, pair, regression or choice")
    if label_noise and kind in ("single", "pair"):
        flip = rng.random(n) < label_noise
        labels = np.where(flip, 1 - labels, labels)
    cols["label"] = [float(x) for x in labels] if kind == "regression" else [int(x) for x in labels]
    return cols


def generate(n_train: int = 2000, n_test: int = 500, **kwargs: Any) -> dict[str, Any]:
    """The task's `train` and `test` splits as `datasets.Dataset`s."""
    import datasets

    if "length" in kwargs:
        kwargs["length"] = tuple(kwargs["length"])
    return {
        "train": datasets.Dataset.from_dict(make_split(n_train, 0, **kwargs)),
        "test": datasets.Dataset.from_dict(make_split(n_test, 1, **kwargs)),
    }
