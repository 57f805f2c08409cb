"""The names `harness.similarity.command` held before the command moved to `harness.cli.similarity`:
the library is `harness.similarity.tables` (computing, `write_similarity`) and
`harness.similarity.outputs` (the files and tables written)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.similarity import outputs
from harness.similarity.outputs import (
    correlation_view,
    write_covariances,
    write_gain_pictures,
    write_matrices,
    write_task_pictures,
)
from harness.similarity.tables import (
    CAPS,
    SimilarityRequest,
    reference_backbone,
    suite_config,
    suite_tasks,
    write_similarity,
)

__all__ = [
    "CAPS",
    "SimilarityRequest",
    "_readable",
    "reference_backbone",
    "report_failures",
    "suite_config",
    "suite_tasks",
    "write_covariances",
    "write_gain_pictures",
    "write_matrices",
    "write_similarity",
    "write_task_pictures",
    "write_when_to_transfer",
]

_readable = correlation_view


def report_failures(frames: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    """`outputs.report_failures`, its summary printed as the command prints it."""
    return outputs.report_failures(frames, out, print)


def write_when_to_transfer(
    records: list, frames: dict[str, pd.DataFrame], correlation: pd.DataFrame, out: Path
) -> list[Path]:
    """`outputs.write_when_to_transfer`, its table printed as the command prints it."""
    return outputs.write_when_to_transfer(records, frames, correlation, out, print)
