"""What the commands share: the `--include` argument, tables as printed, and the data folder
handed to the process's environment."""

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


def comma_list(value: str | None) -> list[str]:
    """A comma-separated flag's names, blanks left out."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def table(rows: list[dict], headers: str = "keys", tablefmt: str = "github") -> str:
    from tabulate import tabulate

    return tabulate(rows, headers=headers, tablefmt=tablefmt) if rows else "(none)"


def export_data_dir(value: str | None, resolve: bool = False) -> None:
    """`--data_dir` as `$TRANSFERBENCH_DATA_DIR` of this process (its folders made absolute with
    `resolve`): backbones find weights under it (e.g. models/all-MiniLM-L6-v2) by that variable
    alone; the library is given the folders explicitly."""
    if not value:
        return
    if resolve:
        value = os.pathsep.join(
            str(Path(d).expanduser().resolve()) for d in value.split(os.pathsep) if d.strip()
        )
    os.environ["TRANSFERBENCH_DATA_DIR"] = value
