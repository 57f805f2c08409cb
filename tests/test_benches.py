"""The CPU benchmarks run end to end on tiny settings, and print the counts that explain their
figures (no timing is asserted: benchmarks print ratios, tests check what they count)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture(autouse=True)
def torch_threads_kept():
    """The benches pin torch to one thread for the whole process; later tests get theirs back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _bench(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_image_cache_bench_reads_the_cache_on_the_second_pass(capsys):
    """The bench itself asserts the cached pass is a cache hit with no miss."""
    _bench("bench_image_cache").main(["--rows", "96", "--repeats", "1", "--batch_size", "32"])
    out = capsys.readouterr().out
    assert "96 training images" in out
    for line in (
        "first (decode + write the cache)",
        "cached (read the cache)",
        "decode every epoch",
    ):
        assert line in out
    assert re.search(r"ratio first / cached: [\d.]+x", out)
    assert re.search(r"ratio decode-every-epoch / cached: [\d.]+x", out)


def test_grid_growth_counts_follow_the_growth_law(capsys):
    """Seeds: one source training and one feature pass per split whatever the seeds, one
    probe per seed. Targets: one source training; feature passes grow with the targets."""
    _bench("bench_grid_growth").main(["--sizes", "1", "2", "--axes", "seeds", "targets"])
    out = capsys.readouterr().out
    rows = {}
    for line in out.splitlines():
        m = re.match(
            r"(seeds|targets)\s+(\d+)\s+(\d+)\s+[\d.]+\s+[\d.]+\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$",
            line,
        )
        if m:
            axis, size, runs, sources, features, probes, full = m.groups()
            rows[axis, int(size)] = tuple(int(v) for v in (runs, sources, features, probes, full))
    assert rows[("seeds", 1)][1:] == (1, rows[("seeds", 1)][2], 1, 0)
    assert rows[("seeds", 2)][1] == 1 and rows[("seeds", 2)][3] == 2  # one source, two probes
    assert rows[("seeds", 2)][2] == rows[("seeds", 1)][2]  # features computed once
    assert rows[("targets", 2)][1] == 1  # not sources x targets
    assert rows[("targets", 2)][2] == 2 * rows[("targets", 1)][2]  # each target's splits once
    assert "time ~ size^k" in out and "expected" in out


def test_runner_vs_trainer_bench_trains_every_configuration_alike(capsys):
    """Runner, Trainer-dynamic (the reference) and Trainer-padded each run the same optimizer
    steps on the same rows (the bench exits otherwise) and are scored on the same dev rows."""
    _bench("bench_runner_vs_trainer").main(
        ["--task", "synthetic", "--backbone", "bert-tiny", "--steps", "2", "--repeats", "1"]
    )
    out = capsys.readouterr().out
    assert "2 steps x batch 32 (64 rows)" in out
    for config in ("runner", "dynamic", "padded"):
        assert re.search(rf"repeat 1 {config} +[\d.]+ examples/s .*dev accuracy 0\.\d+", out)
    assert re.search(r"runner / Trainer\(dynamic pad \+ group_by_length\): +[\d.]+x .*target", out)
    assert re.search(r"dev accuracy runner - Trainer\(dynamic\): [+-][\d.]+ on 128 rows", out)


def test_memory_bench_against_trainer_names_what_it_needs():
    """Without the MiniLM folder it stops with a message naming it (its real run is ~11 min)."""
    with pytest.raises(SystemExit, match="all-MiniLM-L6-v2"):
        _bench("bench_memory_vs_trainer").main(["--data_dir", "/nonexistent"])


def test_multitask_optimizer_bench_updates_both_sides_alike(capsys):
    out = _bench("bench_multitask_optimizer").main(
        ["--backbone", "bert-tiny", "--steps", "2", "--repeats", "1", "--threads", "1"]
    )
    printed = capsys.readouterr().out
    assert "ratio before / now" in printed and "bert-tiny" in printed
    assert out["parameters"] > 0 and out["max_diff"] < 1e-5  # the same update on both sides
