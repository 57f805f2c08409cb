"""Features at any depth: the pooled output of every layer group of an encoder, from one forward
pass.

Layers are counted as `copy_first_n` counts them (`Encoder.layer_groups()`): layer k is the
output of the first k groups, so layer 1 is the stem (embeddings) and layer n the last block.
Each is pooled as the encoder pools its last layer: the masked mean or the CLS token of the
token states for text, the global average of a convolutional map. Layer n is the encoder's own
output (a final norm or pooler included), so a probe at layer n is the default probe.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import torch

from harness.errors import ConfigError

if TYPE_CHECKING:
    from harness.backbones import Encoder


def pool_hidden(hidden: torch.Tensor, mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """One feature vector per row: a (B, C, H, W) map is averaged over space; (B, T, D) token
    states are averaged over the unmasked tokens (`mean`) or give the first token (`cls`)."""
    if hidden.dim() == 4:
        return hidden.mean(dim=(2, 3))
    if hidden.dim() == 2:
        return hidden
    if pooling == "cls":
        return hidden[:, 0]
    if mask is None:
        return hidden.mean(dim=1)
    mask = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


def layer_features(encoder: Encoder, **inputs: torch.Tensor) -> list[torch.Tensor]:
    """The pooled features of layers 1..n of `encoder` for one batch, from one forward pass
    (hooks on the layer groups); the last is the encoder's output."""
    ids = inputs.get("input_ids")
    if ids is not None and ids.dim() == 3:  # multiple choice: (batch, choices, length)
        batch, choices = ids.shape[:2]
        flat = layer_features(encoder, **{k: v.flatten(0, 1) for k, v in inputs.items()})
        return [f.unflatten(0, (batch, choices)) for f in flat]
    groups = encoder.layer_groups()
    seen: list[Any] = [None] * len(groups)

    def keep(i: int, _module: torch.nn.Module, _args: Any, output: Any) -> None:
        seen[i] = output[0] if isinstance(output, (tuple, list)) else output

    hooks = [g.register_forward_hook(functools.partial(keep, i)) for i, g in enumerate(groups)]
    try:
        last = encoder(**inputs)
    finally:
        for hook in hooks:
            hook.remove()
    missing = [i + 1 for i, s in enumerate(seen[:-1]) if not isinstance(s, torch.Tensor)]
    if missing:
        raise ConfigError(
            f"{type(encoder.model).__name__}: layer group(s) {missing} gave no tensor in the "
            "forward pass, so their features cannot be read"
        )
    mask = inputs.get("attention_mask")
    return [pool_hidden(s, mask, encoder.pooling) for s in seen[:-1]] + [last]
