"""Encoders behind one interface: a batch in, pooled features out, and the layers in order (so
methods can freeze or re-initialise the first n).

A backbone is named by a preset (a small `transformers` config built offline: `bert-tiny`,
`resnet-tiny`, ...), by a registered torch module (`register_backbone`; shipped: the CIFAR
ResNet-20/32/44/56 with their CIFAR-10 checkpoints from the data folder), or by any Hub name
or local path that `AutoModel` can load. The registry: `harness.backbone_registry`; the image
presets and CIFAR ResNets: `harness.backbone_image_presets`, registered on import of this one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import harness.backbone_image_presets  # noqa: F401  (registers the image presets)
from harness.backbone_registry import (
    BACKBONES,
    ModuleBackbone,
    Preset,  # noqa: F401  (importable from here)
    module_backbone,
    register_preset,
)
from harness.errors import ConfigError, UnknownNameError
from harness.layers import pool_hidden
from harness.registry import did_you_mean

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def register_backbone(
    name: str, modality: str, build: Callable[[], nn.Module], description: str, **options: Any
) -> ModuleBackbone:
    """Register a torch module as a backbone (see `ModuleBackbone`); suites then name it.
    `options`: `module_backbone`'s (image_size, tags, weights, load, mean, std)."""
    entry = module_backbone(name, modality, build, description, **options)
    BACKBONES.register(name, entry)
    return entry


def find_in_data_dir(relative: str) -> Path | None:
    """`relative` under the data folder (`$TRANSFERBENCH_DATA_DIR`, which `--data_dir` sets;
    several folders separated by the path separator), or None."""
    for data in os.environ.get("TRANSFERBENCH_DATA_DIR", "").split(os.pathsep):
        if data.strip() and (Path(data).expanduser() / relative).exists():
            return Path(data).expanduser() / relative
    return None


# the BERT presets look `_bert` up here when they build (tests/mp_cache_probe.py swaps it)
def _bert(hidden: int, layers: int, heads: int):
    from transformers import BertConfig

    return BertConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        max_position_embeddings=512,
        vocab_size=30522,
    )


@register_preset(
    "bert-tiny", "text", "BERT L2/H128/A2 (Turc et al. 2019 sizes), random init", tags=("bert",)
)
def _bert_tiny():
    return _bert(128, 2, 2)


@register_preset("bert-mini", "text", "BERT L4/H256/A4, random init", tags=("bert",))
def _bert_mini():
    return _bert(256, 4, 4)


@register_preset("bert-small", "text", "BERT L4/H512/A8, random init", tags=("bert",))
def _bert_small():
    return _bert(512, 4, 8)


@dataclass(frozen=True)
class BackboneSpec:
    """What a suite names: which encoder and how inputs are prepared for it."""

    name: str
    init: str = "pretrained"  # pretrained | random (presets are always random)
    max_length: int = 128
    image_size: int | None = None
    pooling: str = "mean"  # mean | cls
    vocab_size: int = 2000  # WordPiece size for presets trained on task texts
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"name must be a preset, Hub name or path, got {self.name!r}")
        if self.init not in ("pretrained", "random"):
            raise ValueError(f"init must be 'pretrained' or 'random', got {self.init!r}")
        if self.pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {self.pooling!r}")
        for name in ("max_length", "vocab_size", "image_size"):
            value = getattr(self, name)
            if value is not None and value < 8:
                raise ValueError(f"{name} must be a whole number >= 8, got {value}")

    @property
    def is_preset(self) -> bool:
        return self.name in BACKBONES

    @property
    def location(self) -> str:
        """Where the weights are: a local path, else a path under the data folder
        (`$TRANSFERBENCH_DATA_DIR`, which `--data_dir` sets; e.g. `models/all-MiniLM-L6-v2`),
        else the name itself for the Hub."""
        if Path(self.name).exists():
            return self.name
        found = find_in_data_dir(self.name)
        return str(found) if found else self.name

    @property
    def loads_weights(self) -> bool:
        """Whether the encoder starts from stored weights (so its start does not depend on the
        seed): a Hub or local model, or a registered module with weights, under `init: pretrained`."""
        if self.init != "pretrained":
            return False
        if not self.is_preset:
            return True
        entry = BACKBONES.get(self.name)
        return isinstance(entry, ModuleBackbone) and bool(entry.weights)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_modality(spec: BackboneSpec) -> str:
    """The modality of a preset or Hub/local model (reads its config, no weights)."""
    if spec.is_preset:
        return BACKBONES.get(spec.name).modality
    config = _auto_config(spec.location)
    return "image" if hasattr(config, "num_channels") else "text"


def _auto_config(name: str):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        hint = did_you_mean(name, BACKBONES.names())
        raise UnknownNameError(
            f"unknown backbone '{name}': not a preset and not loadable as a Hub name or local path "
            f"({str(exc).splitlines()[0][:160]}).{hint} Presets: {', '.join(BACKBONES.names())}"
        ) from exc


def describe_preset(name: str) -> dict[str, Any]:
    p = BACKBONES.get(name)
    weights = getattr(p, "weights", None)
    return {
        "name": p.name,
        "modality": p.modality,
        "description": p.description,
        "weights": f"$TRANSFERBENCH_DATA_DIR/{weights}" if weights else "none (random init)",
    }


class Encoder(nn.Module):
    """A `transformers` model that maps a batch to pooled features of size `feature_dim`."""

    def __init__(self, model: nn.Module, modality: str, feature_dim: int, pooling: str = "mean"):
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ConfigError(f"backbone pooling must be 'mean' or 'cls', got {pooling!r}")
        self.model = model
        self.modality = modality
        self.feature_dim = feature_dim
        self.pooling = pooling

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        ids = inputs.get("input_ids")
        if ids is not None and ids.dim() == 3:  # multiple choice: (batch, choices, length)
            batch, choices = ids.shape[:2]
            flat = {k: v.flatten(0, 1) for k, v in inputs.items()}
            return self(**flat).unflatten(0, (batch, choices))
        out = self.model(**inputs)
        if isinstance(out, torch.Tensor):  # a registered module: features or a feature map
            return pool_hidden(out, None, self.pooling) if out.dim() == 4 else out
        hidden = out.last_hidden_state
        if hidden.dim() == 4:  # CNN feature map (B, C, H, W)
            pooled = getattr(out, "pooler_output", None)
            return pooled.flatten(1) if pooled is not None else hidden.mean(dim=(2, 3))
        return pool_hidden(hidden, inputs.get("attention_mask"), self.pooling)

    def enable_gradient_checkpointing(self) -> None:
        """Recompute activations in the backward pass instead of keeping them: `transformers`
        models through their own switch, other modules block by block (every layer group
        after the stem). Outputs and gradients are unchanged; peak memory falls."""
        if getattr(self.model, "supports_gradient_checkpointing", False):
            self.model.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False}
            )
            return
        for group in self.layer_groups()[1:]:
            if getattr(group, "_tb_checkpointed", False):
                continue
            group.forward = _checkpointed(group.forward, group)
            group._tb_checkpointed = True

    def layer_groups(self) -> list[nn.Module]:
        """The encoder's layers in input-to-output order: the stem (embeddings), then each block."""
        m = self.model
        if callable(getattr(m, "layer_groups", None)):  # a registered module says itself
            return list(m.layer_groups())
        stem = next((getattr(m, a) for a in ("embeddings", "embedder") if hasattr(m, a)), None)
        blocks = None
        for body in (getattr(m, "encoder", None), getattr(m, "transformer", None), m):
            for attr in ("layer", "stages", "layers", "blocks"):
                if body is not None and isinstance(getattr(body, attr, None), nn.ModuleList):
                    blocks = getattr(body, attr)
                    break
            if blocks is not None:
                break
        if stem is None or blocks is None:
            raise ConfigError(
                f"cannot find the layers of {type(m).__name__}: no embeddings + encoder blocks"
            )
        return [stem, *blocks]


def _checkpointed(forward: Callable[..., Any], module: nn.Module) -> Callable[..., Any]:
    from torch.utils.checkpoint import checkpoint

    def run(*args: Any, **kwargs: Any) -> Any:
        if module.training and torch.is_grad_enabled():
            return checkpoint(forward, *args, use_reentrant=False, **kwargs)
        return forward(*args, **kwargs)

    return run


def reinitialize(module: nn.Module, model: nn.Module) -> None:
    """Re-initialise a module's weights with its model's own init scheme."""
    init = getattr(model, "_init_weights", None)
    for sub in module.modules():
        if init is not None:
            init(sub)
        elif hasattr(sub, "reset_parameters"):
            sub.reset_parameters()


def _feature_dim(config: Any) -> int:
    if getattr(config, "hidden_sizes", None):
        return int(config.hidden_sizes[-1])
    return int(config.hidden_size)


def build_model(
    spec: BackboneSpec, vocab_size: int | None = None, seed: int | None = None
) -> Encoder:
    """Build the encoder: presets from their config (random), others from the Hub or a path."""
    from transformers import AutoModel

    if seed is not None:
        torch.manual_seed(seed)
    if spec.is_preset and isinstance(BACKBONES.get(spec.name), ModuleBackbone):
        return _build_module(BACKBONES.get(spec.name), spec)
    if spec.is_preset:
        preset = BACKBONES.get(spec.name)
        config = preset.make_config()
        if preset.modality == "text" and vocab_size:
            config.vocab_size = vocab_size
        model = _model_from_config(config)
        modality = preset.modality
    else:
        config = _auto_config(spec.location)
        modality = "image" if hasattr(config, "num_channels") else "text"
        if spec.init == "random":
            model = _model_from_config(config)
        elif spec.init == "pretrained":
            model = AutoModel.from_pretrained(spec.location)
        else:
            raise ConfigError(f"backbone init must be 'pretrained' or 'random', got {spec.init!r}")
    return Encoder(model, modality, _feature_dim(config), spec.pooling)


def weights_path(spec: BackboneSpec) -> Path | None:
    """The weights file a registered module backbone loads (None when it loads none); a
    missing file is an error naming it and the data folder searched."""
    entry = BACKBONES.get(spec.name) if spec.is_preset else None
    if not isinstance(entry, ModuleBackbone) or not spec.loads_weights:
        return None
    path = find_in_data_dir(entry.weights)
    if path is None:
        where = os.environ.get("TRANSFERBENCH_DATA_DIR") or "not set"
        raise ConfigError(
            f"backbone '{entry.name}' loads its weights from {entry.weights} under the data "
            f"folder, which is not there ($TRANSFERBENCH_DATA_DIR / --data_dir: {where}); "
            "give --data_dir, or set `init: random` to train it from a random start"
        )
    return path


def _build_module(entry: ModuleBackbone, spec: BackboneSpec) -> Encoder:
    model = entry.build()
    path = weights_path(spec)
    if path is not None:
        entry.load(model, path)
    dim = getattr(model, "feature_dim", None)
    if not isinstance(dim, int) or not callable(getattr(model, "layer_groups", None)):
        raise ConfigError(
            f"backbone '{entry.name}': its module needs an int `feature_dim` and "
            "a `layer_groups()` method (see harness.backbones.ModuleBackbone)"
        )
    return Encoder(model, entry.modality, dim, spec.pooling)


def _model_from_config(config: Any) -> nn.Module:
    from transformers import AutoModel

    kwargs = {"add_pooling_layer": False} if config.model_type in ("bert", "vit", "roberta") else {}
    return AutoModel.from_config(config, **kwargs)


def spec_hash(spec: BackboneSpec, extra: str = "") -> str:
    blob = json.dumps(spec.to_dict(), sort_keys=True) + extra
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def image_settings(spec: BackboneSpec) -> dict[str, Any]:
    """Input size, channels, mean and std the backbone expects."""
    if spec.is_preset:
        preset = BACKBONES.get(spec.name)
        return {
            "size": spec.image_size or preset.image_size,
            "channels": 3,
            "mean": getattr(preset, "mean", (0.5, 0.5, 0.5)),
            "std": getattr(preset, "std", (0.5, 0.5, 0.5)),
        }
    config = _auto_config(spec.location)
    settings = {
        "size": spec.image_size or getattr(config, "image_size", 224),
        "channels": getattr(config, "num_channels", 3),
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
    }
    try:
        from transformers import AutoImageProcessor

        proc = AutoImageProcessor.from_pretrained(spec.location)
        settings["mean"] = tuple(getattr(proc, "image_mean", IMAGENET_MEAN))
        settings["std"] = tuple(getattr(proc, "image_std", IMAGENET_STD))
        size = getattr(proc, "size", None) or {}
        if not spec.image_size and isinstance(size, dict):
            settings["size"] = size.get("height") or size.get("shortest_edge") or settings["size"]
    except (OSError, ValueError):
        logger.info("no image processor for %s; using ImageNet statistics", spec.name)
    return settings


def load_encoder_state(encoder: Encoder, path: Path) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    encoder.load_state_dict(state)


def layer_group_count(spec: BackboneSpec) -> int:
    """How many layer groups a backbone has (built with random weights: nothing is loaded)."""
    return _layer_group_count(json.dumps(spec.to_dict(), sort_keys=True))


@functools.cache
def _layer_group_count(spec_json: str) -> int:
    spec = BackboneSpec(**{**json.loads(spec_json), "init": "random"})
    return len(build_model(spec, seed=0).layer_groups())
