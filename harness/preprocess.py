"""Turn a task's raw splits into model inputs for one backbone, cached on disk by `datasets`.

Text: the backbone's tokenizer (or a WordPiece trained on the suite's task texts for presets),
single sentences or pairs, truncation here and padding per batch in the collator.
Images: greyscale/RGB conversion to the backbone's channels, resize and normalise, in torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
import torch.nn.functional as F

from harness.backbones import BackboneSpec, image_settings, resolve_modality
from harness.cache import Cache
from harness.cards import TaskCard
from harness.data.loading import TaskData
from harness.errors import ConfigError

logger = logging.getLogger(__name__)
PREPROCESS_VERSION = "1"


@dataclass
class InputPipeline:
    """How raw rows become tensors for one backbone; `identity` keys every cache built on it."""

    spec: BackboneSpec
    modality: str
    identity: str
    tokenizer: Any = None
    image: dict[str, Any] | None = None
    tokenizer_corpus: list[str] | None = None  # a preset's WordPiece was trained on these tasks
    weights: str | None = None  # the stored weights' fingerprint (`harness.backbone_fingerprint`)

    @property
    def input_identity(self) -> str:
        """What the encoded splits depend on: for images only the size, channels and
        normalisation (backbones that agree share them); for text the whole pipeline."""
        if self.modality == "image":
            return _hash([self.image, PREPROCESS_VERSION])
        return self.identity

    @property
    def vocab_size(self) -> int | None:
        return len(self.tokenizer) if self.tokenizer is not None else None

    def check(self, card: TaskCard) -> None:
        if card.modality != self.modality:
            raise ConfigError(
                f"task '{card.name}' is {card.modality}, but backbone '{self.spec.name}' is {self.modality}"
            )

    def encode_fn(self, card: TaskCard) -> Callable[[dict[str, list]], dict[str, Any]]:
        self.check(card)
        if self.modality == "text" and card.choices:
            return self._encode_choices(card)
        if self.modality == "text":
            text_col, pair_col = card.inputs["text"], card.inputs.get("text_pair")
            tok, max_len = self.tokenizer, self.spec.max_length

            def encode_text(batch: dict[str, list]) -> dict[str, Any]:
                pairs = batch[pair_col] if pair_col else None
                enc = tok(batch[text_col], pairs, truncation=True, max_length=max_len)
                return {**enc, "labels": batch["labels"]}

            return encode_text
        col, settings = card.inputs["image"], self.image

        def encode_images(batch: dict[str, list]) -> dict[str, Any]:
            return {
                "pixel_values": images_to_tensor(batch[col], settings).numpy(),
                "labels": batch["labels"],
            }

        return encode_images

    def _encode_choices(self, card: TaskCard) -> Callable[[dict[str, list]], dict[str, Any]]:
        """Multiple choice: each row's context paired with each of its choices, encoded
        jointly (`[CLS] context [SEP] choice [SEP]`); a row holds one sequence per choice."""
        text_col, choice_cols = card.inputs["text"], card.choices
        tok, max_len = self.tokenizer, self.spec.max_length

        def encode(batch: dict[str, list]) -> dict[str, Any]:
            n, k = len(batch[text_col]), len(choice_cols)
            contexts = [c for c in batch[text_col] for _ in range(k)]
            answers = [str(batch[col][i]) for i in range(n) for col in choice_cols]
            enc = tok(contexts, answers, truncation=True, max_length=max_len)
            rows = {
                key: [values[i * k : (i + 1) * k] for i in range(n)] for key, values in enc.items()
            }
            return {**rows, "labels": batch["labels"]}

        return encode

    def features(self, card: TaskCard) -> datasets.Features | None:
        if self.modality != "image":
            return None
        s = self.image["size"]
        label = (
            datasets.Value("float32") if card.problem == "regression" else datasets.Value("int64")
        )
        return datasets.Features(
            {
                "pixel_values": datasets.Array3D((self.image["channels"], s, s), "float32"),
                "labels": label,
            }
        )

    def collate(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        """Stack a batch; text is padded to the longest row in the batch (dynamic padding).
        Extra columns (`EXTRA_COLUMNS`, e.g. teacher soft targets) are carried through."""
        out = self._collate_inputs(rows)
        for k in EXTRA_COLUMNS:
            if k in rows[0]:
                out[k] = torch.stack([torch.as_tensor(r[k], dtype=torch.float32) for r in rows])
        return out

    def _collate_inputs(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        labels = torch.stack([torch.as_tensor(r["labels"]) for r in rows])
        if self.modality == "image":
            return {
                "pixel_values": torch.stack([torch.as_tensor(r["pixel_values"]) for r in rows]),
                "labels": labels,
            }
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in rows[0]]
        pad_id = self.tokenizer.pad_token_id or 0
        choices = len(rows[0]["input_ids"]) and not isinstance(rows[0]["input_ids"][0], int)
        if choices:  # multiple choice: (batch, choices, longest), one pad length for all
            longest = max(len(seq) for r in rows for seq in r["input_ids"])
        else:
            longest = max(len(r["input_ids"]) for r in rows)
        out = {}
        for k in keys:
            fill = pad_id if k == "input_ids" else 0

            def pad(seq: list[int], fill: int = fill) -> list[int]:
                return list(seq) + [fill] * (longest - len(seq))

            padded = [[pad(seq) for seq in r[k]] if choices else pad(r[k]) for r in rows]
            out[k] = torch.tensor(padded, dtype=torch.long)
        out["labels"] = labels
        return out


EXTRA_COLUMNS = ("soft_targets",)


def images_to_tensor(images: list, settings: dict[str, Any]) -> torch.Tensor:
    """PIL images (or arrays) to a normalised float tensor (N, C, size, size)."""
    channels, size = settings["channels"], settings["size"]
    mode = "RGB" if channels == 3 else "L"
    arrays = []
    for img in images:
        if not hasattr(img, "convert"):
            from PIL import Image

            img = Image.fromarray(np.asarray(img, dtype=np.uint8))
        a = np.asarray(img.convert(mode), dtype=np.uint8)
        arrays.append(a[:, :, None] if a.ndim == 2 else a)
    shapes = {a.shape for a in arrays}
    if len(shapes) == 1:
        x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div_(255.0)
        x = _resize(x, size)
    else:
        x = torch.cat(
            [
                _resize(torch.from_numpy(a).permute(2, 0, 1)[None].float().div_(255.0), size)
                for a in arrays
            ]
        )
    mean = torch.tensor(settings["mean"][:channels]).view(1, -1, 1, 1)
    std = torch.tensor(settings["std"][:channels]).view(1, -1, 1, 1)
    return (x - mean) / std


def _resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def row_lengths(ds: Any) -> list[int] | None:
    """Token count of every row of an encoded text split (None for images), read from Arrow."""
    if not isinstance(ds, datasets.Dataset) or "input_ids" not in ds.column_names:
        return None
    import pyarrow.compute as pc

    ids = ds.with_format("arrow")["input_ids"]
    if ids.num_chunks and pa_is_nested(ids.type):  # multiple choice: the tokens of all choices
        return [sum(len(seq) for seq in row) for row in ids.to_pylist()]
    return pc.list_value_length(ids).to_pylist()


def pa_is_nested(arrow_type: Any) -> bool:
    """A list of lists (a multiple-choice row: one token list per choice)."""
    import pyarrow as pa

    return pa.types.is_list(arrow_type) and pa.types.is_list(arrow_type.value_type)


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _iter_texts(tasks: Iterable[TaskData]) -> Iterator[str]:
    for td in tasks:
        for col in td.card.input_columns:
            yield from map(str, td.train[col])


def build_pipeline(spec: BackboneSpec, corpus: list[TaskData], cache: Cache) -> InputPipeline:
    """The input pipeline for a backbone. For text presets, a WordPiece tokenizer is trained on
    the training texts of `corpus` (every task the suite puts through this backbone) and cached,
    so sources and targets share one vocabulary."""
    from harness.backbone_fingerprint import weights_fingerprint

    modality = resolve_modality(spec)
    weights = weights_fingerprint(spec)

    def identity(*parts: Any) -> str:
        # the stored weights' fingerprint where the backbone has any (a model replaced under
        # its name keys new caches); left out otherwise, so those identities stay as they were
        return _hash([*parts, PREPROCESS_VERSION] + ([weights] if weights else []))

    if modality == "image":
        settings = image_settings(spec)
        return InputPipeline(
            spec, modality, identity(spec.to_dict(), settings), image=settings, weights=weights
        )
    if spec.is_preset:
        from harness.tokenization import corpus_key, train_wordpiece

        text_tasks = sorted(
            (td for td in corpus if td.card.modality == "text"), key=lambda td: td.card.name
        )
        if not text_tasks:
            raise ConfigError(f"backbone '{spec.name}' needs text tasks to train its tokenizer on")
        texts_id = _hash(
            [
                [td.card.name, td.card.content_hash, td.fingerprints.get("train")]
                for td in text_tasks
            ]
        )
        tokenizer = train_wordpiece(_iter_texts(text_tasks), spec.vocab_size, cache, texts_id)
        tok_id = corpus_key(texts_id, spec.vocab_size)
        trained_on = [td.card.name for td in text_tasks]
    else:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(spec.location)
        tok_id, trained_on = spec.name, None
    return InputPipeline(
        spec,
        modality,
        identity(spec.to_dict(), tok_id),
        tokenizer=tokenizer,
        tokenizer_corpus=trained_on,
        weights=weights,
    )


def encode_split(
    pipeline: InputPipeline, data: TaskData, role: str, cache: Cache
) -> datasets.Dataset:
    """Encode one split for the pipeline, once: an Arrow file in the cache, memory-mapped."""
    card = data.card
    raw = data.split(role)

    def compute(folder: Path | None) -> None:
        if folder is not None:
            raw.map(
                pipeline.encode_fn(card),
                batched=True,
                batch_size=256,
                remove_columns=raw.column_names,
                features=pipeline.features(card),
                cache_file_name=str(folder / "data.arrow"),
                desc=f"encode {card.name}/{role}",
            )

    def load(folder: Path) -> datasets.Dataset:
        ds = datasets.Dataset.from_file(str(folder / "data.arrow"))
        if pipeline.modality == "image":  # arrays straight from Arrow, not nested Python lists
            ds = ds.with_format("numpy", columns=["pixel_values"], output_all_columns=True)
        return ds

    parts = [
        card.content_hash,
        role,
        data.fingerprints.get(role),
        pipeline.input_identity,
        len(raw),
    ]
    return cache.get_or_compute("encoded", parts, compute, load, name=f"{card.name}-{role}")
