"""The checks of the folders a command reads (`--results`) and writes (`--output_dir`,
`--cache_dir`), made before any training so an error names the flag and the path."""

from __future__ import annotations

import os
from pathlib import Path

from harness.errors import ConfigError


def writable_folder(path: Path, what: str) -> Path:
    """Make sure `path` is a folder this process can write in (creating it), before any
    training: an error names the flag and the path."""
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


def results_folder(value: str | Path) -> Path:
    """`--results`: an existing folder, else an error naming it."""
    results = Path(value)
    if not results.is_dir():
        why = "is a file, not a folder" if results.exists() else "no such results folder"
        raise ConfigError(f"--results {results}: {why}")
    return results
