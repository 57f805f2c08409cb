"""One "get or compute" call for anything trained or computed once and reused.

An entry is a folder `<root>/<kind>/<name>-<key>` whose key hashes everything that made it.
It is complete when its `.done` marker exists: the main process writes the files into a
temporary folder of its own and renames it into place, so a reader never sees a half-written
entry and a killed run leaves none. An entry that exists but cannot be loaded is corrupt: it is
reported, removed and computed again (healed). Hits, misses and heals are counted per kind. A
compute that fails is remembered for the rest of the process: every later request for that
entry fails with the same error at once (a diverged source is not trained again for each run
that needs it). Computing an entry leaves the caller's random state as it was, so a run scores
the same on a cold cache as on a warm one.

Several processes of one run (`accelerate launch --num_processes N`): every process takes part
in `compute` (training is collective under Accelerate); only the main process gets a folder to
write (the others get None). Whether an entry is there is decided by the main process alone
and sent to the others, so all of them take the same path and meet at the same collectives
(each process looking for itself raced with the main process's writing: a process that looked
too early took the compute path and read files the main process had not written yet, and the
barriers of the two paths no longer matched). The others wait for the main process's verdict
(and, on a miss, for the compute), then load the finished entry; a failure on any process
(compute or load) fails the call on every process, so they stay in step. `get_or_compute` is
collective: call it on every process alike, and never inside `main_process_first` (whose
barriers its collectives would meet).

Several suite processes may share one cache (`--shard i/N`, the Ray executor): a missing entry
is computed under a file lock (`<root>/.locks/<kind>/<entry>.lock`, `filelock`), and whoever takes the lock second
finds the entry done and loads it, so a source encoder is trained once for all of them.
With `skip_busy` set (a suite's preparation phase), a call that would wait on another
process's lock raises `EntryBusy` instead, so the caller can prepare something else first;
only an outermost call does, never one inside another entry's compute (which waits), so no
half-made entry is left behind.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

logger = logging.getLogger(__name__)
T = TypeVar("T")
DONE = ".done"
HIT, WAITED, MISS, FAILED = "hit", "waited", "miss", "failed"  # what the main process found
BUSY = "busy"  # another suite process holds the entry's lock (`skip_busy`)


class CacheError(RuntimeError):
    """Another process of the run failed to compute or load a cache entry."""


class EntryBusy(Exception):  # noqa: N818 - a state, not a failure
    """Another suite process is computing the entry (raised only with `Cache.skip_busy`)."""


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


@contextmanager
def main_process_first(accelerator: Any) -> Iterator[None]:
    """Accelerate's `main_process_first` (the main process runs the block, then the others),
    whose barrier is met even when the block raises: a data error in the main process left the
    others waiting at it while the main process went on to its next collective call. The
    block must make no collective call (no `Cache.get_or_compute`)."""
    main = accelerator.is_main_process
    if not main:
        accelerator.wait_for_everyone()
    try:
        yield
    finally:
        if main:
            accelerator.wait_for_everyone()


def cache_key(parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:20]


class Cache:
    def __init__(self, root: Path, accelerator: Any, counts: Counter | None = None):
        self.root = Path(root)
        self.accelerator = accelerator
        self.counts = counts if counts is not None else Counter()
        self.failed: dict[Path, BaseException] = {}  # entries whose compute failed in this process
        self.skip_busy = False  # raise EntryBusy rather than wait on another process's lock
        self._depth = 0  # computes under way in this process (nested calls always wait)

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
        """Load the entry for `parts`, computing it first when it is missing or corrupt.
        Collective: every process of the run calls it alike (see the module docstring)."""
        folder = self.folder(kind, parts, name)
        if folder in self.failed:  # e.g. a diverged source: every run needing it fails the same way
            raise self.failed[folder]
        main = self.accelerator.is_main_process
        with ExitStack() as held:  # the main process's lock on a missing entry, until it is done
            state, value = self._verdict(folder, kind, load, held, main)
            if state == MISS:
                self.counts[f"{kind}_miss"] += 1
                self._depth += 1
                try:
                    self._compute(folder, kind, parts, compute, main)
                finally:
                    self._depth -= 1
        if state != MISS:
            self.counts[f"{kind}_hit"] += 1
            if state == WAITED:  # another suite process computed it meanwhile
                self.counts[f"{kind}_waited"] += 1
            if main:
                self._all_succeed(None, f"load {kind} cache entry {folder}")
                return value
        return self._load_everywhere(folder, kind, load)

    def _verdict(
        self, folder: Path, kind: str, load: Callable[[Path], T], held: ExitStack, main: bool
    ) -> tuple[str, T | None]:
        """What the main process found (`_look`), on every process; an error the main process
        met looking is raised on every process."""
        state, value, why = None, None, None
        if main:
            try:
                state, value = self._look(folder, kind, load, held)
            except EntryBusy as exc:
                state, why = BUSY, exc
            except Exception as exc:  # noqa: BLE001 - told to every process below
                state, why = FAILED, exc
        state, said = self._from_main(
            [state, None if why is None else f"{type(why).__name__}: {why}"]
        )
        if state == BUSY:
            self.counts[f"{kind}_busy"] += 1
            raise why if why is not None else EntryBusy(said)
        if state == FAILED:
            if why is not None:
                raise why
            raise CacheError(f"process 0 failed to look up {kind} cache entry {folder}: {said}")
        return state, value

    def _look(
        self, folder: Path, kind: str, load: Callable[[Path], T], held: ExitStack
    ) -> tuple[str, T | None]:
        """The main process: load a done entry (HIT); else take the entry's lock and look
        again (WAITED: another suite process finished it meanwhile); else clear what is there
        (a corrupt entry) and keep the lock for the compute (MISS)."""
        corrupt = False
        for attempt in range(2):
            if attempt:
                self._take_lock(folder, kind, held)
            if (folder / DONE).exists():
                try:
                    return (WAITED if attempt else HIT), load(folder)
                except Exception as exc:  # noqa: BLE001 - any unreadable entry is healed
                    if not corrupt:
                        logger.warning(
                            "%s cache entry %s is corrupt (%s): computing it again",
                            kind,
                            folder,
                            exc,
                        )
                        self.counts[f"{kind}_heal"] += 1
                    corrupt = True
        shutil.rmtree(folder, ignore_errors=True)
        return MISS, None

    def _take_lock(self, folder: Path, kind: str, held: ExitStack) -> None:
        """Wait for the entry's lock, or with `skip_busy` (outermost calls only) raise
        `EntryBusy` when another process holds it."""
        lock = self._lock(folder)
        if not (self.skip_busy and self._depth == 0):
            held.enter_context(lock)
            return
        from filelock import Timeout

        try:
            lock.acquire(timeout=0)
        except Timeout:
            raise EntryBusy(
                f"{kind} cache entry {folder.name} is being computed by another process"
            ) from None
        held.callback(lock.release)

    def _lock(self, folder: Path):
        """An inter-process lock on one entry (taken by the main process of each suite process)."""
        from filelock import FileLock

        locks = self.root / ".locks" / folder.parent.name  # beside the entries, not among them
        locks.mkdir(parents=True, exist_ok=True)
        return FileLock(str(locks / f"{folder.name}.lock"))

    # -- agreeing across the processes of one run ------------------------------------------------
    def _many(self) -> bool:
        return int(getattr(self.accelerator, "num_processes", 1) or 1) > 1

    def _from_main(self, verdict: list[Any]) -> list[Any]:
        """The main process's verdict, on every process."""
        if not self._many():
            return verdict
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list(list(verdict), from_process=0)

    def _all_succeed(self, error: BaseException | None, what: str) -> None:
        """Every process says whether its part succeeded; unless all did, each raises (its own
        error, or one naming the process that failed), so all leave the call together."""
        if not self._many():
            if error is not None:
                raise error
            return
        from accelerate.utils import gather_object

        said = gather_object([None if error is None else f"{type(error).__name__}: {error}"])
        if error is not None:
            raise error
        failed = [(rank, why) for rank, why in enumerate(said) if why is not None]
        if failed:
            rank, why = failed[0]
            raise CacheError(f"process {rank} failed to {what}: {why}")

    def _load_everywhere(self, folder: Path, kind: str, load: Callable[[Path], T]) -> T:
        value, error = None, None
        try:
            value = load(folder)
        except Exception as exc:  # noqa: BLE001 - told to every process below
            error = exc
        self._all_succeed(error, f"load {kind} cache entry {folder}")
        return value  # type: ignore[return-value]

    def _compute(
        self,
        folder: Path,
        kind: str,
        parts: Any,
        compute: Callable[[Path | None], None],
        main: bool,
    ) -> None:
        """Every process computes; the main process writes into a temporary folder of its own
        and renames it into place (with its `.done` marker) before any process goes on."""
        tmp = folder.with_name(f".{folder.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
        error: BaseException | None = None
        try:
            if main:
                # the entry's lock is held: a temporary folder of the same entry is a killed
                # process's half-written one (a multi-task phase is ~90 MB), never a live one
                for stale in folder.parent.glob(f".{glob.escape(folder.name)}.*.tmp"):
                    shutil.rmtree(stale, ignore_errors=True)
                tmp.mkdir(parents=True)
            with preserved_random_state():
                compute(tmp if main else None)
            if main:
                (tmp / DONE).write_text(
                    json.dumps({"kind": kind, "parts": parts}, default=str, indent=1)
                )
                shutil.rmtree(folder, ignore_errors=True)
                os.replace(tmp, folder)
        except Exception as exc:  # noqa: BLE001 - remembered, told to every process
            error = exc
        finally:
            if main and tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        try:
            self._all_succeed(error, f"compute {kind} cache entry {folder.name}")
        except Exception as exc:
            self.failed[folder] = exc
            raise
