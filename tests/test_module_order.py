"""The test modules start heaviest first (tests/module_order.py), so the worker left alone at
the end runs a short module."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from module_order import SECONDS_FILE, heaviest_first, load, module_seconds


@dataclass
class Item:
    nodeid: str


def test_modules_run_heaviest_first_with_their_own_order_kept_and_unknown_ones_last():
    items = [
        Item("tests/test_a.py::x"),
        Item("tests/test_b.py::y[1]"),
        Item("tests/test_new.py::z"),
        Item("tests/test_b.py::y[0]"),
        Item("tests/test_a.py::w"),
    ]
    seconds = {"tests/test_a.py": 3.0, "tests/test_b.py": 40.0}
    assert [i.nodeid for i in heaviest_first(items, seconds)] == [
        "tests/test_b.py::y[1]",
        "tests/test_b.py::y[0]",
        "tests/test_a.py::x",
        "tests/test_a.py::w",
        "tests/test_new.py::z",
    ]


def test_a_durations_report_sums_setup_call_and_teardown_per_module():
    report = """============ slowest durations ============
94.21s setup    tests/test_multitask.py::test_ladder
5.50s call     tests/test_multitask.py::test_other[a-b]
0.25s teardown tests/test_multitask.py::test_ladder
2.00s call     tests/test_cli.py::test_list
(3 durations < 0.005s hidden.)
"""
    seconds = module_seconds(report.splitlines())
    assert list(seconds) == ["tests/test_multitask.py", "tests/test_cli.py"]  # heaviest first
    assert seconds == pytest.approx({"tests/test_multitask.py": 99.96, "tests/test_cli.py": 2.0})


def test_the_committed_seconds_name_existing_test_modules():
    seconds = load()
    assert SECONDS_FILE.is_file() and seconds
    root = SECONDS_FILE.parents[1]
    missing = [m for m in seconds if not (root / m).is_file()]
    assert not missing, f"{SECONDS_FILE.name} names modules that are gone: {missing}"
