"""What a backbone's stored weights are, as a fingerprint for cache keys and run records: a
local model folder or weights file by its contents, a Hub model by the commit of its cached
snapshot. A model replaced under the same name (new weights in the folder, a new Hub
revision) then gets a new fingerprint, so nothing trained from the old weights is served."""

from __future__ import annotations

from pathlib import Path

from harness.backbone_registry import BACKBONES
from harness.backbones import BackboneSpec, find_in_data_dir
from harness.data.sources import files_fingerprint

WEIGHTS_KEY = "@backbone"  # in a record's dataset fingerprints: the weights it started from


def weights_fingerprint(spec: BackboneSpec) -> str | None:
    """The fingerprint of the weights the backbone starts from; None when it starts from none
    (`init: random`, a preset without weights)."""
    if not spec.loads_weights:
        return None
    if spec.is_preset:
        found = find_in_data_dir(BACKBONES.get(spec.name).weights)
        return files_fingerprint([found]) if found else None
    location = Path(spec.location)
    if location.exists():
        return files_fingerprint([location])
    return _hub_revision(spec.name)


def _hub_revision(repo_id: str) -> str | None:
    """The commit of the Hub snapshot `from_pretrained` reads (after it has been fetched)."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, "config.json")
    if isinstance(cached, str):  # .../snapshots/<commit>/config.json
        return f"hub:{Path(cached).parent.name}"
    return None
