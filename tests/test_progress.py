"""Outside a terminal no library draws bars, whichever command builds the workspace: a suite
run, and also `similarity`, `recommend` and submission reruns (which printed transformers'
"Loading weights" bars into their logs)."""

from __future__ import annotations

import datasets
import transformers

from harness.progress import interactive
from harness.workspace import Workspace


def test_a_workspace_outside_a_terminal_turns_the_library_bars_off(tmp_path):
    assert not interactive()  # pytest captures stderr
    was = datasets.is_progress_bar_enabled(), transformers.utils.logging.is_progress_bar_enabled()
    datasets.enable_progress_bars()
    transformers.utils.logging.enable_progress_bar()
    try:
        Workspace(cache_dir=tmp_path / "cache")
        assert not datasets.is_progress_bar_enabled()
        assert not transformers.utils.logging.is_progress_bar_enabled()
    finally:  # as the other tests of this process had it
        (datasets.enable_progress_bars if was[0] else datasets.disable_progress_bars)()
        logging = transformers.utils.logging
        (logging.enable_progress_bar if was[1] else logging.disable_progress_bar)()
