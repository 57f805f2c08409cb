"""Backbones: every preset builds offline, maps a batch to pooled features, and lists its layers
in order; the input pipeline turns text pairs and greyscale images into what the encoder takes;
the real MiniLM encoder loads from the shared data folder (`realdata`)."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import copy  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from harness.backbones import (  # noqa: E402
    BACKBONES,
    BackboneSpec,
    Encoder,
    build_model,
    image_settings,
    resolve_modality,
)
from harness.cards import card_from_dict  # noqa: E402
from harness.data.loading import load_task  # noqa: E402
from harness.errors import ConfigError, UnknownNameError  # noqa: E402
from harness.preprocess import build_pipeline, encode_split  # noqa: E402
from harness.taskregistry import TaskRegistry  # noqa: E402

PRESETS = BACKBONES.names()
VOCAB = 100


def tiny_batch(name: str, batch: int = 2, length: int = 8) -> dict[str, torch.Tensor]:
    preset = BACKBONES.get(name)
    g = torch.Generator().manual_seed(0)
    if preset.modality == "text":
        mask = torch.ones(batch, length, dtype=torch.long)
        mask[1, length // 2 :] = 0  # a padded row
        return {
            "input_ids": torch.randint(0, VOCAB, (batch, length), generator=g),
            "attention_mask": mask,
        }
    size = preset.image_size
    return {"pixel_values": torch.randn(batch, 3, size, size, generator=g)}


@pytest.fixture(scope="module")
def encoders() -> dict[str, Encoder]:
    return {}


def encoder_for(encoders: dict[str, Encoder], name: str) -> Encoder:
    if name not in encoders:
        encoders[name] = build_model(
            BackboneSpec(name, init="random"), vocab_size=VOCAB, seed=0
        ).eval()
    return encoders[name]


def test_presets_cover_both_modalities():
    modalities = {BACKBONES.get(n).modality for n in PRESETS}
    assert modalities == {"text", "image"}
    assert {"bert-tiny", "resnet-tiny"} <= set(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_builds_and_pools(encoders, name):
    preset = BACKBONES.get(name)
    enc = encoder_for(encoders, name)
    assert isinstance(enc, Encoder) and enc.modality == preset.modality
    assert resolve_modality(BackboneSpec(name)) == preset.modality
    if preset.modality == "text":
        assert enc.model.get_input_embeddings().num_embeddings == VOCAB
    with torch.no_grad():
        feats = enc(**tiny_batch(name))
    assert feats.shape == (2, enc.feature_dim)
    assert feats.dtype == torch.float32 and torch.isfinite(feats).all()
    assert not torch.allclose(feats[0], feats[1])  # different inputs, different features


@pytest.mark.parametrize("name", PRESETS)
def test_preset_layer_groups_in_order(encoders, name):
    enc = encoder_for(encoders, name)
    groups = enc.layer_groups()
    assert len(groups) >= 2, "the stem plus at least one block"
    stem = next(
        getattr(enc.model, a) for a in ("embeddings", "embedder", "stem") if hasattr(enc.model, a)
    )
    assert groups[0] is stem

    # no parameter in two groups, and together they hold most of the encoder's parameters
    seen: set[int] = set()
    for group in groups:
        ids = {id(p) for p in group.parameters()}
        assert ids and not ids & seen
        seen |= ids
    total = sum(p.numel() for p in enc.parameters())
    covered = sum(p.numel() for p in enc.parameters() if id(p) in seen)
    assert covered / total >= 0.95, covered / total

    # the forward pass runs through the groups in the order they are listed
    order: list[int] = []
    hooks = [g.register_forward_hook(lambda *_, i=i: order.append(i)) for i, g in enumerate(groups)]
    try:
        with torch.no_grad():
            enc(**tiny_batch(name))
    finally:
        for h in hooks:
            h.remove()
    assert order == list(range(len(groups)))


def test_mean_pooling_ignores_padding(encoders):
    name = "bert-tiny"
    enc = encoder_for(encoders, name)
    batch = tiny_batch(name)
    changed = {k: v.clone() for k, v in batch.items()}
    changed["input_ids"][1, 4:] = (changed["input_ids"][1, 4:] + 1) % VOCAB  # padded positions
    with torch.no_grad():
        a, b = enc(**batch), enc(**changed)
    assert torch.allclose(a[1], b[1], atol=1e-5)


def test_cls_pooling_and_bad_pooling():
    enc = build_model(BackboneSpec("bert-tiny", pooling="cls"), vocab_size=VOCAB, seed=0).eval()
    batch = tiny_batch("bert-tiny")
    with torch.no_grad():
        hidden = enc.model(**batch).last_hidden_state
        assert torch.allclose(enc(**batch), hidden[:, 0])
    from harness.spec import dataclass_from_dict

    # a suite's backbone is checked when the suite expands, before any model is built
    with pytest.raises(ConfigError, match="suite: backbone: pooling must be 'mean' or 'cls'"):
        dataclass_from_dict(
            BackboneSpec, {"name": "bert-tiny", "pooling": "max"}, "suite: backbone"
        )
    with pytest.raises(ConfigError, match="max_length must be a whole number >= 8"):
        dataclass_from_dict(
            BackboneSpec, {"name": "bert-tiny", "max_length": -4}, "suite: backbone"
        )


def test_same_seed_same_weights():
    a = build_model(BackboneSpec("resnet-tiny"), seed=3).state_dict()
    b = build_model(BackboneSpec("resnet-tiny"), seed=3).state_dict()
    c = build_model(BackboneSpec("resnet-tiny"), seed=4).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_unknown_backbone_name_is_a_clear_error():
    with pytest.raises(UnknownNameError) as info:
        build_model(BackboneSpec("bert-tinyy"))
    assert "unknown backbone 'bert-tinyy'" in str(info.value)
    assert "Did you mean 'bert-tiny'" in str(info.value)


# --- the input pipeline -----------------------------------------------------------------------


def small_task(name: str, **kwargs):
    """A built-in generator task with fewer rows (the card is otherwise unchanged)."""
    raw = copy.deepcopy(TaskRegistry().get(name).raw)
    raw["data"]["generator"]["kwargs"].update(kwargs)
    return load_task(card_from_dict(raw))


def make_cache(root):
    from accelerate import Accelerator

    from harness.cache import Cache

    return Cache(root, Accelerator(cpu=True))


def test_text_pipeline_encodes_pairs(tmp_path):
    data = small_task("synth_text_pair", n_train=60, n_test=10)
    spec = BackboneSpec("bert-tiny", max_length=16, vocab_size=200)
    cache = make_cache(tmp_path)
    pipe = build_pipeline(spec, [data], cache)
    assert pipe.modality == "text" and 0 < pipe.vocab_size <= 200
    assert list((tmp_path / "tokenizers").iterdir()), "the built tokenizer is cached"

    enc = encode_split(pipe, data, "train", cache)
    assert len(enc) == len(data.train)
    assert {"input_ids", "attention_mask", "token_type_ids", "labels"} <= set(enc.column_names)
    assert all(len(ids) <= 16 for ids in enc["input_ids"])
    # a pair: segment 0 then segment 1, in every row
    for types in enc["token_type_ids"][:10]:
        assert types[0] == 0 and 1 in types and types == sorted(types)
    assert enc["labels"] == data.train["labels"]

    again = encode_split(pipe, data, "train", cache)
    assert again.cache_files == enc.cache_files  # cached, not encoded again
    assert Path(enc.cache_files[0]["filename"]).parent.parent == tmp_path / "encoded"
    assert cache.counts["encoded_miss"] == 1 and cache.counts["encoded_hit"] == 1
    pipe2 = build_pipeline(spec, [data], cache)
    assert cache.counts["tokenizers_miss"] == 1 and cache.counts["tokenizers_hit"] == 1
    assert pipe2.identity == pipe.identity
    assert pipe2.tokenizer.get_vocab() == pipe.tokenizer.get_vocab()

    batch = pipe.collate([enc[i] for i in range(4)])
    assert (
        batch["input_ids"].shape == batch["token_type_ids"].shape == batch["attention_mask"].shape
    )
    model = build_model(spec, vocab_size=pipe.vocab_size, seed=0).eval()
    with torch.no_grad():
        feats = model(**{k: v for k, v in batch.items() if k != "labels"})
    assert feats.shape == (4, model.feature_dim)


@pytest.mark.parametrize(
    "name, image_size", [("resnet-tiny", None), ("vit-tiny", None), ("resnet-tiny", 24)]
)
def test_image_pipeline_makes_grey_images_rgb(tmp_path, name, image_size):
    data = small_task("synth_image_near", n_train=12, n_test=4)
    assert data.train[0]["image"].mode == "L" and data.train[0]["image"].size == (16, 16)
    spec = BackboneSpec(name, image_size=image_size)
    size = image_size or BACKBONES.get(name).image_size
    assert image_settings(spec)["size"] == size
    cache = make_cache(tmp_path)
    pipe = build_pipeline(spec, [data], cache)
    enc = encode_split(pipe, data, "test", cache).with_format("torch")
    x = enc[: len(enc)]["pixel_values"]
    assert x.shape == (4, 3, size, size) and x.dtype == torch.float32
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(
        x[:, 1], x[:, 2]
    )  # grey -> 3 equal channels
    assert x.min() >= -1.0 - 1e-6 and x.max() <= 1.0 + 1e-6  # normalised with mean/std 0.5
    if image_size is None:
        model = build_model(spec, seed=0).eval()
        with torch.no_grad():
            assert model(pixel_values=x).shape == (4, model.feature_dim)


def test_pipeline_rejects_the_other_modality(tmp_path):
    text = small_task("synth_text_anchor", n_train=20, n_test=4)
    image = small_task("synth_image_near", n_train=8, n_test=4)
    cache = make_cache(tmp_path)
    pipe = build_pipeline(BackboneSpec("resnet-tiny"), [image], cache)
    with pytest.raises(
        ConfigError, match="task 'synth_text_anchor' is text, but backbone 'resnet-tiny' is image"
    ):
        encode_split(pipe, text, "train", cache)
    with pytest.raises(ConfigError, match="needs text tasks to train its tokenizer"):
        build_pipeline(BackboneSpec("bert-tiny"), [image], cache)


# --- the real MiniLM encoder ------------------------------------------------------------------


@pytest.fixture
def minilm_path() -> Path:
    data_dir = os.environ.get("TRANSFERBENCH_DATA_DIR")
    if not data_dir:
        pytest.skip("TRANSFERBENCH_DATA_DIR is not set")
    path = Path(data_dir) / "models" / "all-MiniLM-L6-v2"
    if not (path / "config.json").exists():
        pytest.skip(f"{path} is missing")
    return path


@pytest.mark.realdata
def test_real_minilm_encoder(minilm_path):
    from transformers import AutoTokenizer

    spec = BackboneSpec(str(minilm_path))
    assert not spec.is_preset and resolve_modality(spec) == "text"
    enc = build_model(spec).eval()
    assert enc.feature_dim == 384
    tok = AutoTokenizer.from_pretrained(str(minilm_path))
    batch = tok(
        ["A man is playing a guitar.", "The weather is lovely today, isn't it?"],
        padding=True,
        truncation=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        feats = enc(**batch)
    assert feats.shape == (2, 384) and torch.isfinite(feats).all()
    groups = enc.layer_groups()
    assert len(groups) == 1 + enc.model.config.num_hidden_layers == 7
    # pretrained weights: related sentences are closer than unrelated ones
    more = tok(
        ["Someone plays the guitar.", "The weather is lovely today, isn't it?"],
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        other = enc(**more)
    cos = torch.nn.functional.cosine_similarity
    assert cos(feats[0:1], other[0:1]) > cos(feats[0:1], other[1:2])
