"""Progress: bars in a terminal, a line per step in a log.

In a terminal a suite shows tqdm bars; when stderr is not one (CI, a nightly, SLURM) the bars
are off, those of `datasets` and `transformers` too, and the suite prints one line per
preparation step and per run with its time, as lm-evaluation-harness and the Hugging Face
examples do under CI (the bars' frames made 212 KB of the quick suite's log)."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

from tqdm.auto import tqdm


def interactive() -> bool:
    """Whether progress bars are shown: stderr is a terminal."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed
        return False


def bar(iterable: Iterable | None = None, *, show: bool = True, **kw: Any) -> tqdm:
    """A tqdm bar, off outside a terminal (and where `show` is false: another process's)."""
    return tqdm(iterable, disable=not (show and interactive()), **kw)


def quiet_libraries() -> None:
    """Outside a terminal, no `datasets` or `transformers` bars either."""
    if interactive():
        return
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()


def step_line(done: int, total: int, what: str, seconds: float, outcome: str = "") -> str:
    """One line of a log: `[3/48] finetune | none -> rte | ...: accuracy 0.6173 (35.2 s)`."""
    return f"[{done}/{total}] {what}{': ' + outcome if outcome else ''} ({seconds:.1f} s)"
