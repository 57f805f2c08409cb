"""What the command-line tools share: the `--include` argument and the checks of the folders
a command reads (`--results`) and writes (`--output_dir`, `--cache_dir`), made before any
training so an error names the flag and the path."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_include_argument(p: argparse.ArgumentParser) -> None:
    """`--include FILE.py` (repeatable): a plug-in file that registers methods."""
    p.add_argument(
        "--include",
        action="append",
        default=[],
        metavar="FILE.py",
        help="a Python file registering a method (@register_method); repeatable",
    )


def writable_folder(path: Path, what: str) -> Path:
    """Make sure `path` is a folder this process can write in (creating it), before any
    training: an error names the flag and the path."""
    from harness.errors import ConfigError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{what} {path} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{what} {path} is not writable: {exc.strerror or exc}") from exc
    return path


def results_folder(value: str) -> Path:
    """`--results`: an existing folder, else an error naming it."""
    from harness.errors import ConfigError

    results = Path(value)
    if not results.is_dir():
        why = "is a file, not a folder" if results.exists() else "no such results folder"
        raise ConfigError(f"--results {results}: {why}")
    return results
