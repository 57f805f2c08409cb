"""One "get or compute" call for anything trained or computed once and reused.

An entry is a folder `<root>/<kind>/<name>-<key>` whose key hashes everything that made it.
It is complete when its `.done` marker exists: the main process writes the files into a
temporary folder and renames it into place, so a killed run leaves no half entry. An entry
that exists but cannot be loaded is corrupt: it is reported, removed and computed again
(healed). Hits, misses and heals are counted per kind. A compute that fails is remembered for
the rest of the process: every later request for that entry fails with the same error at once
(a diverged source is not trained again for each run that needs it). Computing an entry leaves
the caller's random state as it was, so a run scores the same on a cold cache as on a warm one.

Every process takes part in `compute` (training is collective under Accelerate); only the
main process gets a folder to write (the others get None), and all wait for it.

Several suite processes may share one cache (`--shard i/N`, the Ray executor): a missing entry
is computed under a file lock (`<root>/.locks/<kind>/<entry>.lock`, `filelock`), and whoever takes the lock second
finds the entry done and loads it, so a source encoder is trained once for all of them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")
DONE = ".done"


@contextmanager
def preserved_random_state() -> Iterator[None]:
    """Run a block without changing the caller's random state (Python, NumPy, torch CPU and
    CUDA): computing a cache entry must leave a run exactly where a cache hit would."""
    import random

    import numpy as np
    import torch

    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


def cache_key(parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


class Cache:
    def __init__(self, root: Path, accelerator: Any, counts: Counter | None = None):
        self.root = Path(root)
        self.accelerator = accelerator
        self.counts = counts if counts is not None else Counter()
        self.failed: dict[Path, BaseException] = {}  # entries whose compute failed in this process

    def folder(self, kind: str, parts: Any, name: str = "") -> Path:
        return self.root / kind / f"{name + '-' if name else ''}{cache_key(parts)}"

    def get_or_compute(
        self,
        kind: str,
        parts: Any,
        compute: Callable[[Path | None], None],
        load: Callable[[Path], T],
        name: str = "",
    ) -> T:
        """Load the entry for `parts`, computing it first when it is missing or corrupt."""
        folder = self.folder(kind, parts, name)
        if folder in self.failed:  # e.g. a diverged source: every run needing it fails the same way
            raise self.failed[folder]
        if (folder / DONE).exists():
            try:
                value = load(folder)
                self.counts[f"{kind}_hit"] += 1
                return value
            except Exception as exc:  # noqa: BLE001 - any unreadable entry is healed
                logger.warning(
                    "%s cache entry %s is corrupt (%s): computing it again", kind, folder, exc
                )
                self.counts[f"{kind}_heal"] += 1
                self.accelerator.wait_for_everyone()
                if self.accelerator.is_main_process:
                    shutil.rmtree(folder, ignore_errors=True)
        main = self.accelerator.is_main_process
        with self._lock(folder, main):
            # all processes decide alike: the main one holds the lock, nobody else can finish it
            self.accelerator.wait_for_everyone()
            if (folder / DONE).exists():  # another suite process computed it meanwhile
                self.counts[f"{kind}_hit"] += 1
                self.counts[f"{kind}_waited"] += 1
                return load(folder)
            self.counts[f"{kind}_miss"] += 1
            self._compute(folder, kind, parts, compute, main)
        self.accelerator.wait_for_everyone()
        return load(folder)

    @contextmanager
    def _lock(self, folder: Path, main: bool) -> Iterator[None]:
        """An inter-process lock on one entry (held by the main process of each suite process)."""
        if not main:
            yield
            return
        from filelock import FileLock

        locks = self.root / ".locks" / folder.parent.name  # beside the entries, not among them
        locks.mkdir(parents=True, exist_ok=True)
        with FileLock(str(locks / f"{folder.name}.lock")):
            yield

    def _compute(self, folder: Path, kind: str, parts: Any, compute: Callable[[Path | None], None],
                 main: bool) -> None:  # fmt: skip
        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        if main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        try:
            try:
                with preserved_random_state():
                    compute(tmp if main else None)
            except Exception as exc:
                self.failed[folder] = exc
                raise
            if main:
                (tmp / DONE).write_text(
                    json.dumps({"kind": kind, "parts": parts}, default=str, indent=1)
                )
                shutil.rmtree(folder, ignore_errors=True)
                os.replace(tmp, folder)
        finally:
            if main and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
