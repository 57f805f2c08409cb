"""sklearn's bundled 8×8 handwritten digits (1,797 images), split train/test with a seed."""

from __future__ import annotations

import datasets
import numpy as np


def generate(seed: int = 0, test_fraction: float = 0.25) -> dict[str, datasets.Dataset]:
    """Return {"train", "test"}: `image` (8×8 greyscale PIL, 0..16 scaled to 0..255) and `label`.

    The split is stratified by digit and fixed by `seed`.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from harness.data.vision_files import encode_png

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be between 0 and 1, got {test_fraction!r}")
    bunch = load_digits()
    images = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    labels = bunch.target.astype(np.int64)
    idx = np.arange(len(labels))
    train_idx, test_idx = train_test_split(
        idx, test_size=test_fraction, random_state=seed, stratify=labels
    )
    features = datasets.Features(
        {"image": datasets.Image(), "label": datasets.ClassLabel(names=[str(d) for d in range(10)])}
    )

    def make(rows: np.ndarray) -> datasets.Dataset:
        rows = np.sort(rows)
        column = [{"bytes": encode_png(images[i]), "path": None} for i in rows]
        return datasets.Dataset.from_dict(
            {"image": column, "label": labels[rows].tolist()}, features=features
        )

    return {"train": make(train_idx), "test": make(test_idx)}
