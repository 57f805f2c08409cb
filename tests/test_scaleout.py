"""Scale-out: `--shard i/N` deals a suite's runs out so N processes run each exactly once, sharing
one results folder and one cache (a source trained once for all); `--executor ray` runs each run
as a Ray task on a local Ray instance, sources again trained once across the workers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from suitekit import suite

from harness.errors import ConfigError
from harness.executors import parse_shard, preparation_order, shard_specs

SUITE = (
    "name: scale\nbackbones: [{name: bert-tiny, max_length: 32, vocab_size: 1000}]\n"
    "targets: [synth_text_near, synth_text_far]\nsources: [synth_text_anchor]\n"
    "methods: {finetune: {}, feature_extraction: {budget: {learning_rate: 1.0e-2}}}\n"
    "fractions: [0.1]\nseeds: [0]\nbudget: {num_train_epochs: 1}\nsource_budget: {num_train_epochs: 1}\n"
)


def _cli(*args: object, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "harness", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def _caches(stdout: str) -> Counter:
    line = next(ln for ln in stdout.splitlines() if ln.startswith("caches: "))
    return Counter({k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)})


def _records(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]


def test_shards_cover_the_suite_once_balanced_and_deterministic():
    specs = suite(
        targets=["synth_text_near", "synth_text_far", "synth_text_mid"],
        methods={"scratch": {}, "finetune": {}},
        seeds=[0, 1, 2],
    )
    shards = [shard_specs(specs, f"{i}/4") for i in range(4)]
    ids = [s.id for part in shards for s in part]
    assert sorted(ids) == sorted(s.id for s in specs) and len(set(ids)) == len(ids)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert [s.id for s in shard_specs(list(reversed(specs)), "1/4")] == [
        s.id for s in reversed(shards[1])
    ]  # the same runs whatever the suite's order
    assert shard_specs(specs, "0/1") == specs


def test_shards_prepare_from_different_places(tmp_path, monkeypatch):
    """Two shards of one suite need mostly the same shared models (phases, sources, teachers);
    walking their runs in the suite's order, they reached each at once and one waited on the
    other's lock. Each shard now walks the runs' shared settings (the spec without its
    target) in one cyclic order, shard i from i/N of the way round."""
    from harness.runner import SuiteRunner

    specs = suite(
        targets=["synth_text_near", "synth_text_far"],
        methods={"finetune": {}},
        seeds=list(range(6)),
    )
    ids = [s.id for s in specs]
    assert [s.id for s in preparation_order(specs, None)] == ids

    def settings(order):  # the seed is what differs between shared settings here
        out = [s.seed for s in order]
        return [x for k, x in enumerate(out) if k == 0 or out[k - 1] != x]

    orders = {k: preparation_order(specs, f"{k}/2") for k in (0, 1)}
    for order in orders.values():
        assert sorted(s.id for s in order) == sorted(ids)
        assert len(settings(order)) == 6  # the runs of one setting (both targets) side by side
    first, second = settings(orders[0]), settings(orders[1])
    assert first[0] != second[0]  # started apart
    k = first.index(second[0])
    assert second == first[k:] + first[:k]  # one cyclic order
    assert settings(preparation_order(list(reversed(specs)), "1/2")) == second  # whatever order

    runner = SuiteRunner(tmp_path / "out", cache_dir=tmp_path / "cache")
    runner.placement["shard"] = "1/2"
    seen = []
    monkeypatch.setattr(runner, "prepare", lambda todo: seen.extend(s.id for s in todo) or {})
    monkeypatch.setattr(
        runner,
        "run_one",
        lambda spec: {"status": "ok", "primary_metric": "accuracy", "primary_score": 0.5},
    )
    outcome = runner.run(specs)
    assert seen == [s.id for s in orders[1]] != ids  # prepared in the shard's order
    assert outcome.ran == ids  # and run in the suite's


def test_a_run_whose_shared_model_another_shard_is_making_is_prepared_later(tmp_path, monkeypatch):
    """A shard does not wait on a phase another shard is training while it has something
    else to prepare: it tries again after the rest, and waits (for one) only when a pass gets
    nowhere. The first version left what was still busy after two passes to its runs; on
    glue-mtdnn-local one shard's SST-2 encoding was busy through both, so the other shard
    prepared nothing at all."""
    from harness import runner as runner_mod
    from harness.cache import EntryBusy

    specs = suite(targets=["synth_text_near"], methods={"finetune": {}}, seeds=[0, 1, 2])
    ids = [s.id for s in specs]
    seen: dict[str, list[bool]] = {i: [] for i in ids}  # skip_busy at each try
    busy = {ids[0]: 1, ids[1]: 9}  # free on its second try; busy as long as it is not waited for

    class Probe:
        @classmethod
        def from_settings(cls, settings, where):
            return cls()

        def prepare(self, ctx):
            seen[ctx.spec.id].append(ctx.cache.skip_busy)
            if ctx.cache.skip_busy and len(seen[ctx.spec.id]) <= busy.get(ctx.spec.id, 0):
                raise EntryBusy("task_sets cache entry x is being computed by another process")

    monkeypatch.setattr(runner_mod, "get_method", lambda name: Probe)
    runner = runner_mod.SuiteRunner(tmp_path / "out", cache_dir=tmp_path / "cache")
    ran = []
    monkeypatch.setattr(
        runner,
        "run_one",
        lambda spec: (
            ran.append(spec.id)
            or {"status": "ok", "primary_metric": "accuracy", "primary_score": 0.5}
        ),
    )
    outcome = runner.run(specs)
    assert seen[ids[2]] == [True] and seen[ids[0]] == [True, True]
    # ids[1]: skipped while ids[0] and ids[2] got prepared, then waited for, once
    assert seen[ids[1]] == [True, True, True, False]
    assert runner._prepare_failed == {} and ran == ids and outcome.ran == ids
    assert runner.cache.skip_busy is False  # runs wait for what they need


@pytest.mark.parametrize("value", ["4/4", "-1/4", "1/0", "one/4", "1-4", ""])
def test_a_bad_shard_is_named(value):
    with pytest.raises(ConfigError, match=r"--shard"):
        parse_shard(value)


def test_two_shards_at_once_record_every_run_once_and_train_the_source_once(tmp_path):
    config = tmp_path / "suite.yaml"
    config.write_text(SUITE)
    out, cache = tmp_path / "results", tmp_path / "cache"
    procs = [
        _cli(
            "run",
            "--config",
            config,
            "--shard",
            f"{i}/2",
            "--output_dir",
            out,
            "--cache_dir",
            cache,
            cwd=tmp_path,
        )
        for i in range(2)
    ]
    outputs = [p.communicate(timeout=900) for p in procs]
    for p, (_, stderr) in zip(procs, outputs):
        assert p.returncode == 0, stderr[-3000:]
        assert "Traceback" not in stderr
    records = _records(out)
    specs = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--config", config, "--dry_run"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout
    suite_ids = {ln.split()[0] for ln in specs.splitlines() if ln and not ln.endswith("run(s)")}
    assert len(suite_ids) == 4 and sorted(r["run_id"] for r in records) == sorted(suite_ids)
    assert all(r["status"] == "ok" for r in records)
    assert Counter(r["provenance"]["shard"] for r in records) == {"0/2": 2, "1/2": 2}
    counts = [_caches(stdout) for stdout, _ in outputs]
    # both shards needed the source: one trained it, the other waited for it and loaded it
    assert sum(c["sources_miss"] for c in counts) == 1, counts
    assert all(c["sources_miss"] + c["sources_hit"] >= 1 for c in counts)
    # once both are done, the leaderboard of the whole suite reads every record
    board = subprocess.run(
        [sys.executable, "-m", "harness", "leaderboard", "--results", out],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert board.returncode == 0 and board.stdout.count("synth_text_anchor") >= 4


def test_the_ray_executor_runs_every_run_as_a_task_and_trains_the_source_once(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is part of the test install (README)")
    config = tmp_path / "suite.yaml"
    config.write_text(SUITE)
    out = tmp_path / "results"
    proc = _cli(
        "run",
        "--config",
        config,
        "--executor",
        "ray",
        "--ray_num_cpus",
        "2",
        "--output_dir",
        out,
        "--cache_dir",
        tmp_path / "cache",
        cwd=tmp_path,
    )
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr[-4000:]
    records = _records(out)
    assert len(records) == 4 and all(r["status"] == "ok" for r in records)
    assert {r["provenance"]["executor"] for r in records} == {"ray"}
    assert re.search(r"ray: 4 run\(s\) on [12] worker process\(es\)", stdout), stdout[-2000:]
    counts = _caches(stdout)
    assert counts["sources_miss"] == 1, counts  # four runs need it; trained once across the workers
    assert (out / "report" / "index.html").exists()  # the suite's report as after a local run
