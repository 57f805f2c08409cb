"""The order the test modules run in: heaviest first, so that pytest-xdist's per-module
scheduling (`--dist loadfile --no-loadscope-reorder`, pyproject.toml) hands the last free
worker a short module rather than a long one (longest-processing-time first).

Each module's seconds are read from `module_seconds.json`. Refresh them from a run's
`--durations=0` output: `python -m pytest --durations=0 | python tests/module_order.py`.
A module missing there runs last; the order never changes which tests run."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

SECONDS_FILE = Path(__file__).with_name("module_seconds.json")
_LINE = re.compile(r"\s*([\d.]+)s (?:call|setup|teardown)\s+([^:\s]+)::")


class _Item(Protocol):
    nodeid: str


def module_seconds(lines: Iterable[str]) -> dict[str, float]:
    """Each module's total seconds from pytest's `--durations=0` report lines."""
    total: dict[str, float] = {}
    for line in lines:
        m = _LINE.match(line)
        if m:
            total[m.group(2)] = total.get(m.group(2), 0.0) + float(m.group(1))
    return dict(sorted(total.items(), key=lambda kv: -kv[1]))


def heaviest_first(items: Sequence[_Item], seconds: dict[str, float]) -> list[_Item]:
    """`items` with the modules in decreasing seconds (unknown ones last), each module's tests
    in their own order."""
    return sorted(items, key=lambda it: -seconds.get(it.nodeid.split("::", 1)[0], 0.0))


def load() -> dict[str, float]:
    return json.loads(SECONDS_FILE.read_text()) if SECONDS_FILE.is_file() else {}


if __name__ == "__main__":
    found = module_seconds(sys.stdin)
    if not found:
        sys.exit("no `--durations=0` lines on stdin")
    SECONDS_FILE.write_text(json.dumps({k: round(v, 1) for k, v in found.items()}, indent=1) + "\n")
    print(f"{SECONDS_FILE}: {len(found)} modules, {sum(found.values()):.0f} s")
