"""Helpers for tests that run small suites in-process: build specs, run them, read records."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

from harness.records import find_records, read_record
from harness.runner import SuiteRunner
from harness.suites import expand, resolve_suite
from harness.taskregistry import TaskRegistry

TEXT_BB = {"name": "bert-tiny", "max_length": 32, "vocab_size": 1000}
BUDGET = {"num_train_epochs": 6, "per_device_train_batch_size": 32, "learning_rate": 2e-3}
FE = {"budget": {"learning_rate": 1e-2}}  # heads on frozen features take a larger step


def suite(**kw):
    base = {
        "name": "t",
        "backbones": [TEXT_BB],
        "targets": ["synth_text_near"],
        "sources": ["none"],
        "methods": {"scratch": {}},
        "fractions": [0.5],
        "seeds": [0],
        "budget": BUDGET,
        "source_budget": {"num_train_epochs": 3},
    }
    base.update(kw)
    return expand(resolve_suite(base, {}, "test"), TaskRegistry(), "test")


def run(specs, out, cache_dir, **kw):
    runner = SuiteRunner(out, cache_dir=cache_dir, **kw)
    outcome = runner.run(specs)
    records = {p.stem: read_record(p) for p in find_records(out)}
    return runner, outcome, records


@contextmanager
def method_registry_kept() -> Iterator[None]:
    """Methods registered inside (plug-ins a test loads) are gone again afterwards."""
    from harness import plugins
    from harness.methods import METHODS, discover_methods

    discover_methods()
    entries, loaded = dict(METHODS._entries), dict(plugins._loaded_files)
    try:
        yield
    finally:
        METHODS._entries.clear()
        METHODS._entries.update(entries)
        plugins._loaded_files.clear()
        plugins._loaded_files.update(loaded)


def free_port() -> int:
    """A free local port: a launch's rendezvous (not the default 29500, which another launch
    on this machine, a test run beside this one, may be using) or an address nothing serves."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_process_launch(*args: str) -> list[str]:
    """`accelerate launch` of two CPU processes over gloo on a free port, then `args` (a
    script and its arguments, or `-m module ...`)."""
    return [
        "accelerate",
        "launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--main_process_port",
        str(free_port()),
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        *args,
    ]
