"""Two processes on an empty cache (issue #18): `tests/mp_cache_probe.py` runs a tiny suite
(a source, feature extraction, `mtdnn` and `distill`) once on one process and once under
`accelerate launch --multi_gpu --num_processes 2` (two CPU processes over gloo), each from an
empty cache. Every cache entry is then computed while two processes want it: the main process
writes it, the other waits for it. Both runs must succeed and score alike.

Before the fix, the second process looked for each entry on its own, found it missing while
the main process was still writing it, and read a file not yet there (`FileNotFoundError` on an
encoded split's `data.arrow`) or, where the two processes' barriers stopped matching, both
waited for each other for good."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from suitekit import two_process_launch

PROBE = Path(__file__).with_name("mp_cache_probe.py")
KINDS = ("tokenizers", "encoded", "sources", "features", "task_sets", "soft_targets")


def _run(cmd: list[str], env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    """Run `cmd`; on a timeout, end it and what it started: processes that wait for each other
    forever (the failure this file tests) must not outlive the test. The launcher ends its
    workers (each in a session of its own) when it is terminated; the rest is killed."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        pytest.fail(f"{' '.join(cmd)} did not finish in {timeout} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


@pytest.fixture(scope="module")
def cold(tmp_path_factory):
    root = tmp_path_factory.mktemp("mp_cache")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    one = _run(
        [sys.executable, str(PROBE), str(root / "one")],
        {**env, "TRANSFERBENCH_CACHE": str(root / "cache-one")},
    )
    assert one.returncode == 0, one.stderr[-3000:]
    two = _run(
        two_process_launch(str(PROBE), str(root / "two")),
        {**env, "TRANSFERBENCH_CACHE": str(root / "cache-two")},
    )
    assert two.returncode == 0, two.stderr[-3000:]
    load = lambda p: json.loads(p.read_text())  # noqa: E731
    return {
        "one": load(root / "one" / "rank0.json"),
        "two": [load(root / "two" / f"rank{r}.json") for r in (0, 1)],
        "root": root,
    }


def test_two_processes_on_an_empty_cache_score_as_one_process_does(cold):
    one, (r0, r1) = cold["one"], cold["two"]
    assert r0["procs"] == r1["procs"] == 2 and one["procs"] == 1
    assert len(one["scores"]) == 4 and set(r0["scores"]) == set(one["scores"])
    for run in (one, r0):
        failed = {k: v["error"] for k, v in run["scores"].items() if v["status"] != "ok"}
        assert not failed and not run["failed"], failed
    for name in ("one", "two"):  # every run tracked, by the main process only
        runs = [p for p in (cold["root"] / name / "suite" / "logs").iterdir() if p.is_dir()]
        assert len(runs) == 4 and all(list(p.rglob("events.out.tfevents.*")) for p in runs), runs
    for what, want in one["scores"].items():
        got = r0["scores"][what]
        assert got["score"] == pytest.approx(want["score"], abs=1e-6), what
        shared = got["shared"]  # what the run started from: sources, multi-task model, teachers
        assert shared["sources"] == pytest.approx(want["shared"]["sources"], abs=1e-6), what
        assert shared["multitask"] == pytest.approx(want["shared"]["multitask"], abs=1e-6), what
        for task, scores in want["shared"]["teachers"].items():
            assert shared["teachers"][task] == pytest.approx(scores, abs=1e-6), what


def test_every_kind_of_entry_is_computed_once_and_written_whole(cold):
    """Both processes took the same path for every entry (the same counts); each kind was
    missing and computed; the cache holds finished entries and no temporary folders."""
    (r0, r1), cache = cold["two"], cold["root"] / "cache-two"
    assert r0["counts"] == r1["counts"]
    assert r0["counts"] == cold["one"]["counts"]
    for kind in KINDS:
        assert r0["counts"].get(f"{kind}_miss", 0) >= 1, (kind, r0["counts"])
        entries = list((cache / kind).iterdir())
        assert entries and all((e / ".done").exists() for e in entries), kind
        assert not [e for e in entries if e.name.startswith(".")], kind


PROTOCOL = Path(__file__).with_name("mp_cache_protocol_probe.py")


def test_the_cache_keeps_two_processes_in_step(tmp_path):
    """No model: an entry the main process is slow to write is waited for, not read half
    written; a compute or a load that fails on one process fails the call on both (with the
    process named), a failed compute is not run again, and the processes stay in step."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}  # two CPU processes
    proc = _run(two_process_launch(str(PROTOCOL), str(tmp_path)), env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    said = [
        (a["key"], a.get("value") or a["error"], b.get("value") or b["error"])
        for a, b in zip(r0["calls"], r1["calls"])
    ]
    assert said[0] == ("cold", "cold-value", "cold-value")
    assert said[1] == ("cold", "cold-value", "cold-value")  # a hit: "other" is not computed
    for _, on0, on1 in said[2:4]:  # failed on process 1; the second time not computed again
        assert on0.startswith("CacheError: process 1 failed to compute"), on0
        assert on0.endswith("RuntimeError: diverged on process 1"), on0
        assert on1 == "RuntimeError: diverged on process 1"
    assert said[4][1] == "RuntimeError: diverged on process 0"
    assert said[4][2].startswith("CacheError: process 0 failed to compute")
    for _, on0, on1 in said[5:7]:  # computed (or there), but process 1 cannot load it
        assert on0.startswith("CacheError: process 1 failed to load") and "unreadable" in on0
        assert on1 == "OSError: unreadable here"
    assert said[7] == ("last", "still-in-step", "still-in-step")
    want = ["cold-value", "failing", "failing", "abcd", "still-in-step"]
    assert r0["computed"] == r1["computed"] == want
    assert r0["counts"] == r1["counts"] == {"k_miss": 5, "k_hit": 2}
    entries = list((tmp_path / "cache" / "k").iterdir())
    assert not [e for e in entries if e.name.startswith(".")]  # no temporary folder left
    assert all((e / ".done").exists() for e in entries)
    for r in (0, 1):  # left before shutdown, where gloo's threads could abort a finished process
        exit_state = json.loads((tmp_path / f"rank{r}.exit.json").read_text())
        assert exit_state == {"process_group_up": False}, r


def test_leaving_the_process_group_at_exit(monkeypatch, capsys):
    """Left on a normal exit; not on an uncaught exception (another process may sit in a
    collective); a failure to leave is said, not raised."""
    import torch

    from harness.workspace import leave_process_group

    calls = []
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.distributed, "destroy_process_group", lambda: calls.append(1))
    monkeypatch.delattr(sys, "last_value", raising=False)
    leave_process_group()
    assert calls == [1]
    monkeypatch.setattr(sys, "last_value", RuntimeError("a rank failed"), raising=False)
    leave_process_group()
    assert calls == [1]
    monkeypatch.delattr(sys, "last_value")

    def refuse():
        raise RuntimeError("store gone")

    monkeypatch.setattr(torch.distributed, "destroy_process_group", refuse)
    leave_process_group()
    assert "leaving the process group failed: store gone" in capsys.readouterr().err
