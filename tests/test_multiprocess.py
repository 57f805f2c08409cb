"""Two processes, really: `tests/mp_probe.py` runs once on one process and once under
`accelerate launch --multi_gpu --num_processes 2` (two CPU processes over gloo), and each
process reports what it drew, stepped, gathered and wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from suitekit import two_process_launch

PROBE = Path(__file__).with_name("mp_probe.py")
N_TRAIN, N_TEST = 128, 37


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    root = tmp_path_factory.mktemp("mp")
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "TRANSFERBENCH_CACHE": str(root / "cache"),
    }
    one = subprocess.run(
        [sys.executable, str(PROBE), str(root / "one")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run(
        two_process_launch(str(PROBE), str(root / "two")),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    load = lambda p: json.loads(p.read_text())  # noqa: E731
    return {
        "one": [load(root / "one" / "rank0.json")],
        "two": [load(root / "two" / f"rank{r}.json") for r in (0, 1)],
        "root": root,
    }


@pytest.mark.parametrize("sampler", ["shuffled", "length_grouped"])
def test_each_process_sees_a_disjoint_shard_of_every_epoch(probes, sampler):
    one, (r0, r1) = probes["one"][0], probes["two"]
    assert r0["procs"] == r1["procs"] == 2 and one["procs"] == 1
    for epoch in range(2):
        a, b = r0[sampler]["epochs"][epoch], r1[sampler]["epochs"][epoch]
        assert len(a) == len(b) == N_TRAIN // 2
        assert not set(a) & set(b) and set(a) | set(b) == set(range(N_TRAIN))
        assert sorted(one[sampler]["epochs"][epoch]) == list(range(N_TRAIN))
    assert r0[sampler]["epochs"][0] != r0[sampler]["epochs"][1]  # reshuffled every epoch


@pytest.mark.parametrize("sampler", ["shuffled", "length_grouped"])
def test_steps_examples_and_schedule_match_the_one_process_run(probes, sampler):
    """32 examples per step either way (32 on one process, 16 on each of two): 2 epochs of 128
    rows are 8 optimizer steps and 256 examples, and the learning rate follows the same warm-up
    and decay, reaching 0 at the last step (not after half the run)."""
    one = probes["one"][0][sampler]
    for r in probes["two"]:
        two = r[sampler]
        assert one["steps"] == two["steps"] == 8
        assert one["examples"] == two["examples"] == 2 * N_TRAIN
        assert two["learning_rates"] == pytest.approx(one["learning_rates"])
        assert two["learning_rates"][1] == pytest.approx(0.01) and two["learning_rates"][-1] == 0.0


def test_a_padded_last_batch_is_counted_once(probes):
    """100 rows: one process steps 32+32+32+4; two processes each draw 4 batches of 16, the
    last ones padded with repeated rows. Both count 100 examples an epoch, in 4 steps."""
    one = probes["one"][0]["uneven"]
    assert one["steps"] == 8 and one["examples"] == 200
    for r in probes["two"]:
        assert r["uneven"]["steps"] == 8 and r["uneven"]["examples"] == 200
        assert r["uneven"]["learning_rates"] == pytest.approx(one["learning_rates"])
    r0, r1 = probes["two"]
    for epoch in range(2):  # every row is drawn; only the padding repeats
        a, b = r0["uneven"]["epochs"][epoch], r1["uneven"]["epochs"][epoch]
        assert set(a) | set(b) == set(range(100)) and len(a) + len(b) == 128


@pytest.mark.parametrize("sampler", ["shuffled", "length_grouped"])
def test_the_scored_split_is_gathered_whole(probes, sampler):
    """37 test rows in batches of 8 over 2 processes: the padded tail is dropped, nothing is
    lost, and every prediction stays paired with its reference (the model predicts row ids)."""
    for r in probes["one"] + probes["two"]:
        scored = r[sampler]["scored"]
        assert sorted(scored["refs"]) == list(range(N_TEST))
        assert scored["preds"] == scored["refs"]


def test_only_the_main_process_writes_records(probes):
    """A scratch run and an mtdnn run (its task set trained first): one record each."""
    (one,), (r0, r1) = probes["one"], probes["two"]
    assert len(one["writes"]) == 2 and r0["writes"] == one["writes"] and r1["writes"] == []
    records = [
        json.loads(p.read_text())
        for p in (probes["root"] / "two" / "suite" / "runs").glob("*.json")
    ]
    assert len(records) == 2 and all(r["status"] == "ok" for r in records), [
        r.get("error") for r in records
    ]


def test_processes_draw_the_same_task_sequence(probes):
    """Two tasks (128 and 100 rows) under a temperature schedule: the same sequence on both
    processes and on one process, each epoch its own, and one step per draw."""
    (one,), (r0, r1) = probes["one"], probes["two"]
    a, b = r0["task_set"]["orders"], r1["task_set"]["orders"]
    assert a == b == one["task_set"]["orders"] and len(a) == 2 and a[0] != a[1]
    assert set(a[0]) == {
        "synth_text_regression",
        "regression_copy",
    }  # one dataset as two tasks, two heads
    assert r0["task_set"]["steps"] == one["task_set"]["steps"] == len(a[0]) + len(a[1])
