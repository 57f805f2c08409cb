"""Per-example predictions of a run's scored split, stored beside its record.

`runs/<run_id>.predictions.json.gz` holds the scored rows (indices into the target's scored
split), the model's prediction for each and the reference, so two methods can be compared
example by example (`paired_bootstrap`) and a run re-scored with another metric without
running it again (`rescore`). The record names the file in its `predictions` field.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import DataError
from harness.metrics import compute_metric
from harness.metrics.resampled import on_resamples

SUFFIX = ".predictions.json.gz"
BOOTSTRAP = 1000  # resamples of a paired bootstrap
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Predictions:
    """One run's predictions on its scored rows."""

    run_id: str
    rows: np.ndarray  # indices into the scored split
    predictions: np.ndarray
    references: np.ndarray

    def score(self, metric: str) -> float:
        """The run's score under `metric` (any metric its problem allows)."""
        return compute_metric(metric, self.predictions.tolist(), self.references.tolist())


def _plain(values: Sequence[Any]) -> list[Any]:
    return [v.item() if hasattr(v, "item") else v for v in values]


def predictions_file_name(run_id: str) -> str:
    return f"{run_id}{SUFFIX}"


def write_predictions(
    runs_dir: Path, run_id: str, rows: Sequence[int], predictions: Sequence, references: Sequence
) -> str:
    """Write the file atomically; returns its name (for the record's `predictions`)."""
    if not len(rows) == len(predictions) == len(references):
        raise ValueError(
            f"run {run_id}: {len(rows)} rows, {len(predictions)} predictions and "
            f"{len(references)} references"
        )
    name = predictions_file_name(run_id)
    runs_dir.mkdir(parents=True, exist_ok=True)
    doc = {
        "run_id": run_id,
        "rows": _plain(rows),
        "predictions": _plain(predictions),
        "references": _plain(references),
    }
    tmp = runs_dir / f".{name}.{os.getpid()}.tmp"
    with gzip.open(tmp, "wt", encoding="utf-8") as fh:
        json.dump(doc, fh)
    os.replace(tmp, runs_dir / name)
    return name


def read_predictions(path: Path) -> Predictions:
    """A predictions file, checked (a DataError names the file and what is wrong)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, EOFError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: corrupt predictions file: {exc}") from exc
    keys = ("run_id", "rows", "predictions", "references")
    if not isinstance(doc, dict) or any(k not in doc for k in keys):
        raise DataError(f"{path}: not a predictions file: it needs {list(keys)}")
    lengths = {k: len(doc[k]) for k in keys[1:] if isinstance(doc[k], list)}
    if len(lengths) != 3 or len(set(lengths.values())) != 1:
        raise DataError(f"{path}: rows, predictions and references differ in length: {lengths}")
    return Predictions(
        str(doc["run_id"]),
        np.asarray(doc["rows"], dtype=int),
        np.asarray(doc["predictions"]),
        np.asarray(doc["references"]),
    )


def load_predictions(results: Path, records: Sequence[dict[str, Any]]) -> dict[str, Predictions]:
    """The predictions of those `records` that name a file, found under `results` (where
    their records are), by run id. A file that does not read raises."""
    wanted = {r["run_id"]: r["predictions"] for r in records if r.get("predictions")}
    out: dict[str, Predictions] = {}
    for path in sorted(Path(results).rglob(f"*{SUFFIX}")):
        run_id = path.name[: -len(SUFFIX)]
        if wanted.get(run_id) == path.name and run_id not in out:
            out[run_id] = read_predictions(path)
    return out


def paired_bootstrap(
    metric: str,
    pairs: Sequence[tuple[Predictions, Predictions]],
    resamples: int = BOOTSTRAP,
    seed: int = BOOTSTRAP_SEED,
    alpha: float = 0.05,
) -> tuple[float, float, float]:
    """Mean over seeds of metric(a) − metric(b), with a (1 − alpha) percentile interval from a
    two-level bootstrap: the seeds resampled, and within each seed the scored rows, the same
    rows for both runs. So the interval holds both the training noise the seeds show and the
    sampling noise of a finite scored split. Each pair is one seed's two runs, on equal rows."""
    if not pairs:
        raise ValueError("paired_bootstrap: no pairs")
    rng = np.random.default_rng(seed)
    per_seed = []
    means = []
    for a, b in pairs:
        if not np.array_equal(a.rows, b.rows) or not np.array_equal(a.references, b.references):
            raise ValueError(f"runs {a.run_id} and {b.run_id} were not scored on the same rows")
        n = len(a.rows)
        rows = rng.integers(0, n, size=(resamples, n))
        diff = on_resamples(metric, a.predictions, a.references, rows) - on_resamples(
            metric, b.predictions, b.references, rows
        )
        per_seed.append(diff)
        means.append(a.score(metric) - b.score(metric))
    per_seed = np.stack(per_seed)  # [seeds, resamples]
    pick = rng.integers(0, len(pairs), size=(resamples, len(pairs)))
    stats = per_seed[pick, np.arange(resamples)[:, None]].mean(1)
    lo, hi = np.nanquantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(np.mean(means)), float(lo), float(hi)


def rescore(results: Path, metric: str) -> pd.DataFrame:
    """Every run under `results` that stored predictions, scored again with `metric` (any
    metric its problem allows), one row per run; and per setting, the mean over seeds with
    its 95 % interval. Runs without predictions are counted in the frame's `attrs`."""
    from harness.analysis.intervals import (
        clip_bounds,
        interval_text,
        mean_interval,
        metric_range,
    )
    from harness.metrics import metric_spec
    from harness.records import load_records
    from harness.spec import spec_of

    spec = metric_spec(metric)
    records = [r for r in load_records(Path(results))[0] if r.get("status") == "ok"]
    stored = load_predictions(Path(results), records)
    rows, not_applicable = [], 0
    for r in records:
        if r["run_id"] not in stored:
            continue
        run = spec_of(r["spec"])
        problem = (
            "regression" if metric_spec(r["primary_metric"]).problems == ("regression",) else ""
        )
        if (problem == "regression") != (spec.problems == ("regression",)):
            not_applicable += 1  # a class metric of a regression run, or the other way round
            continue
        try:
            score = stored[r["run_id"]].score(metric)
        except ValueError:  # e.g. binary f1 on a task of three classes
            not_applicable += 1
            continue
        rows.append({**run.label(), "seed": run.seed, "score": score})
    frame = pd.DataFrame(rows)
    skipped = len(records) - len(stored)
    if frame.empty:
        frame.attrs.update(without_predictions=skipped, not_applicable=not_applicable)
        return frame
    keys = ["backbone", "variant", "source", "target", "fraction"]
    out = []
    for key, g in frame.groupby(keys, sort=True):
        iv = mean_interval(g["score"].to_numpy())
        low, high, clipped = clip_bounds(iv.low, iv.high, metric_range(metric))
        out.append(
            {
                **dict(zip(keys, key)),
                metric: g["score"].mean(),
                "95% CI": interval_text(low, high, iv.kind, len(g), clipped),
                "seeds": len(g),
            }
        )
    table = pd.DataFrame(out)
    table.attrs.update(without_predictions=skipped, not_applicable=not_applicable)
    return table
