"""Run by tests/test_multiprocess_cache.py under `accelerate launch --num_processes 2`: the
cache's protocol without any model. Each process writes OUT/rank<r>.json with what each call
gave it (a value, or the error it raised), and OUT/rank<r>.exit.json whether the process group
was still up when the interpreter began to shut down (it must not be: see
harness.workspace.leave_process_group)."""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from pathlib import Path

import torch

from harness.cache import Cache
from harness.workspace import make_accelerator


def _report_exit(out: Path) -> None:
    """Registered before the accelerator, so it runs after the harness's own exit hooks."""
    up = torch.distributed.is_initialized()
    rank = os.environ.get("RANK", "0")
    (out / f"rank{rank}.exit.json").write_text(json.dumps({"process_group_up": up}))


def main(out: Path) -> None:
    atexit.register(_report_exit, out)
    acc = make_accelerator()
    rank = acc.process_index
    cache = Cache(out / "cache", acc)
    seen: dict = {"rank": rank, "calls": [], "computed": []}

    def call(key: str, compute, load) -> None:
        try:
            got = {"value": cache.get_or_compute("k", [key], compute, load)}
        except Exception as exc:  # noqa: BLE001 - what each process was told
            got = {"error": f"{type(exc).__name__}: {exc}"}
        seen["calls"].append({"key": key, **got})

    def slow(value: str):
        def compute(folder):
            seen["computed"].append(value)
            if folder is not None:
                (folder / "part1.txt").write_text(value[:2])
                time.sleep(1.5)  # the other process asks for it meanwhile
                (folder / "part2.txt").write_text(value[2:])

        return compute

    def load(folder):
        return (folder / "part1.txt").read_text() + (folder / "part2.txt").read_text()

    def fails_on(bad_rank: int):
        def compute(folder):
            seen["computed"].append("failing")
            if rank == bad_rank:
                raise RuntimeError(f"diverged on process {rank}")

        return compute

    def load_fails_on(bad_rank: int):
        def load_it(folder):
            if rank == bad_rank:
                raise OSError("unreadable here")
            return load(folder)

        return load_it

    call("cold", slow("cold-value"), load)  # computed while the other waits
    call("cold", slow("other"), load)  # a hit: not computed again
    call("fails-on-1", fails_on(1), load)
    call("fails-on-1", fails_on(1), load)  # remembered: not computed again
    call("fails-on-0", fails_on(0), load)
    call("unloadable-on-1", slow("abcd"), load_fails_on(1))  # a miss, then the load fails
    call("cold", slow("other"), load_fails_on(1))  # a hit the other cannot load
    call("last", slow("still-in-step"), load)
    seen["counts"] = dict(cache.counts)
    acc.wait_for_everyone()
    (out / f"rank{rank}.json").write_text(json.dumps(seen, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
