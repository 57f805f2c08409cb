"""The get-or-compute cache: counts, healing, remembered failures, random state."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from accelerate import Accelerator

from harness.cache import Cache


@pytest.fixture
def cache(tmp_path):
    return Cache(tmp_path, Accelerator(cpu=True))


def _text_entry(value: str):
    def compute(folder):
        if folder is not None:
            (folder / "v.txt").write_text(value)

    return compute, lambda folder: (folder / "v.txt").read_text()


def test_computed_once_then_loaded(cache):
    compute, load = _text_entry("x")
    assert cache.get_or_compute("k", ["a"], compute, load) == "x"
    assert cache.get_or_compute("k", ["a"], compute, load) == "x"
    assert cache.get_or_compute("k", ["b"], compute, load) == "x"
    assert dict(cache.counts) == {"k_miss": 2, "k_hit": 1}


def test_a_corrupt_entry_is_healed(cache):
    compute, load = _text_entry("x")
    cache.get_or_compute("k", ["a"], compute, load, name="t")
    (cache.folder("k", ["a"], "t") / "v.txt").unlink()
    assert cache.get_or_compute("k", ["a"], compute, load, name="t") == "x"
    assert cache.counts["k_heal"] == 1 and cache.counts["k_miss"] == 2


def test_a_failed_compute_leaves_nothing_and_is_not_run_again(cache):
    calls = []

    def compute(folder):
        calls.append(1)
        (folder / "half.txt").write_text("half")
        raise RuntimeError("diverged")

    for _ in range(3):
        with pytest.raises(RuntimeError, match="diverged"):
            cache.get_or_compute("k", ["a"], compute, lambda f: None)
    assert len(calls) == 1
    assert not list((cache.root / "k").iterdir())  # no half entry, no temporary folder


def test_computing_an_entry_leaves_the_random_state_as_a_hit_would(cache):
    def compute(folder):
        torch.manual_seed(123)
        random.seed(5)
        np.random.seed(5)
        torch.rand(10), random.random(), np.random.rand()

    def draw():
        return torch.rand(3).tolist(), random.random(), float(np.random.rand())

    torch.manual_seed(0), random.seed(0), np.random.seed(0)
    cache.get_or_compute("k", ["a"], compute, lambda f: None)  # miss
    after_miss = draw()
    torch.manual_seed(0), random.seed(0), np.random.seed(0)
    cache.get_or_compute("k", ["a"], compute, lambda f: None)  # hit
    assert draw() == after_miss


def test_a_killed_processs_half_written_entry_is_removed_when_the_entry_is_computed(cache):
    """A process killed while computing (a session's end, Ctrl-C twice) left its temporary
    folder beside the entry for good: one ~90 MB multi-task phase per kill."""
    compute, load = _text_entry("x")
    folder = cache.folder("k", ["a"], "t[1]")  # a name with glob characters
    stale = folder.with_name(f".{folder.name}.999999-deadbeef.tmp")
    stale.mkdir(parents=True)
    (stale / "model.pt").write_text("half")
    other = folder.with_name(f".{cache.folder('k', ['b'], 't').name}.999999-deadbeef.tmp")
    other.mkdir()  # another entry's: not this computation's to remove
    assert cache.get_or_compute("k", ["a"], compute, load, name="t[1]") == "x"
    assert not stale.exists() and other.exists()
    assert sorted(p.name for p in (cache.root / "k").iterdir()) == sorted([folder.name, other.name])


def _hold_lock(cache, kind, parts, tmp_path, seconds):
    """Another process holding an entry's lock (as a shard computing it) for `seconds`."""
    import subprocess
    import sys
    import time

    lock = cache.root / ".locks" / kind / f"{cache.folder(kind, parts).name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    ready = tmp_path / "ready"
    code = (
        "import sys, time, pathlib; from filelock import FileLock\n"
        "l = FileLock(sys.argv[1]); l.acquire(); pathlib.Path(sys.argv[2]).touch()\n"
        "time.sleep(float(sys.argv[3])); l.release()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(lock), str(ready), str(seconds)])
    while not ready.exists():
        time.sleep(0.02)
    return proc


def test_with_skip_busy_an_entry_another_process_computes_is_not_waited_for(cache, tmp_path):
    from harness.cache import EntryBusy

    compute, load = _text_entry("x")
    holder = _hold_lock(cache, "k", ["a"], tmp_path, 1.5)
    cache.skip_busy = True
    with pytest.raises(EntryBusy, match="another process"):
        cache.get_or_compute("k", ["a"], compute, load)
    assert cache.counts["k_busy"] == 1 and not cache.failed  # not remembered as failed
    cache.skip_busy = False
    assert cache.get_or_compute("k", ["a"], compute, load) == "x"  # waits, then computes
    assert holder.poll() == 0 and cache.counts["k_miss"] == 1


def test_a_busy_entry_inside_another_entrys_compute_is_waited_for(cache, tmp_path):
    """Only an outermost call skips: one inside a compute (a teacher's source inside the
    teachers' entry) waits, so no half-made entry is given up."""
    inner_compute, inner_load = _text_entry("inner")

    def outer(folder):
        value = cache.get_or_compute("inner", ["b"], inner_compute, inner_load)
        if folder is not None:
            (folder / "v.txt").write_text(value + "+outer")

    holder = _hold_lock(cache, "inner", ["b"], tmp_path, 1.0)
    cache.skip_busy = True
    assert cache.get_or_compute("outer", ["a"], outer, lambda f: (f / "v.txt").read_text()) == (
        "inner+outer"
    )
    assert holder.wait() == 0 and "inner_busy" not in cache.counts and not cache.failed
