"""`--shard i/N`: which of a suite's runs a shard runs, and the order it prepares them in."""

from __future__ import annotations

import re

from harness.errors import ConfigError
from harness.spec import RunSpec, content_hash

SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def parse_shard(value: str) -> tuple[int, int]:
    """`i/N` with 0 <= i < N, else an error naming the flag."""
    m = SHARD.match(str(value))
    if not m:
        raise ConfigError(
            f"--shard {value!r}: expected i/N, e.g. 0/4 (shards are numbered 0 to N-1)"
        )
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or not 0 <= i < n:
        raise ConfigError(
            f"--shard {value}: need N >= 1 and 0 <= i < N (shards are numbered 0 to N-1)"
        )
    return i, n


def shard_specs(specs: list[RunSpec], shard: str) -> list[RunSpec]:
    """This shard's runs: sorted by id, every N-th from the i-th. Deterministic and balanced
    (shard sizes differ by at most one); the union over i = 0 … N-1 is the suite, once."""
    i, n = parse_shard(shard)
    ordered = sorted(specs, key=lambda s: s.id)
    mine = {s.id for s in ordered[i::n]}
    return [s for s in specs if s.id in mine]  # the suite's own order within the shard


def preparation_order(specs: list[RunSpec], shard: str | None) -> list[RunSpec]:
    """The order a shard prepares its runs' shared models in (sources, multi-task phases,
    teachers). Shards of one suite need mostly the same shared models; walking their runs in
    the suite's order they reached each at once and all but one waited on its lock (2 shards
    then prepare at one process's pace). Here every run has a place in [0, 1), the hash of its
    spec without the target (the runs that share a phase share it), and shard i walks them
    from i/N on, wrapping round: the shards start on different shared models and later load
    what the others made. The same place on every shard, whatever its runs."""
    if not shard:
        return list(specs)
    i, n = parse_shard(shard)

    def place(spec: RunSpec) -> float:
        shared = {k: v for k, v in spec.to_dict().items() if k != "target"}
        shared["task_versions"] = {
            k: v for k, v in shared.get("task_versions", {}).items() if k != spec.target
        }
        return (int(content_hash(shared, 12), 16) / 16**12 - i / n) % 1.0

    return sorted(specs, key=place)  # stable: the runs of one place keep the suite's order
