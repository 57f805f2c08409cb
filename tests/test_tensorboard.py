"""`--report_to tensorboard` (issue #18): the event files a run writes hold its curves, one
point per epoch: the training loss and every validation metric of the target."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("tensorboard", reason="the `test` extra installs tensorboard")

EPOCHS = 3


def _scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series in the event files under `folder`: tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out: dict[str, list[tuple[int, float]]] = {}
    for events in sorted(folder.rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events.parent), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return out


def test_report_to_tensorboard_writes_the_curves(tmp_path, run_main):
    proc = run_main(
        "run",
        "--targets",
        "synth_text_near",
        "--sources",
        "none",
        "--methods",
        "finetune",
        "--backbone",
        "bert-tiny",
        "--seeds",
        "0",
        "--fractions",
        "1",
        "--limit",
        "48",
        "--num_train_epochs",
        str(EPOCHS),
        "--per_device_train_batch_size",
        "16",
        "--report_to",
        "tensorboard",
        "--output_dir",
        tmp_path / "out",
        "--cache_dir",
        tmp_path / "cache",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    from harness.records import load_records

    (record,) = load_records(tmp_path / "out")[0]
    logs = tmp_path / "out" / "logs"
    assert list(logs.rglob("events.out.tfevents.*")), f"no event files under {logs}"
    scalars = _scalars(logs)
    from harness.taskregistry import TaskRegistry

    card = TaskRegistry().get("synth_text_near")
    metrics = [f"val/synth_text_near/{m}" for m in card.metrics]  # every metric of the card
    assert metrics[0] == "val/synth_text_near/accuracy"
    assert "train/loss" in scalars and set(metrics) <= set(scalars), sorted(scalars)
    steps = [step for step, _ in scalars["train/loss"]]
    # one point per epoch, at the optimizer step the epoch ended on, as the record's curve
    assert len(steps) == EPOCHS and steps == sorted(steps) and len(set(steps)) == EPOCHS
    curve = record["curve"]
    assert steps == [entry["step"] for entry in curve]
    for (_, logged), entry in zip(scalars["train/loss"], curve):
        assert logged == pytest.approx(entry["train_loss"], abs=1e-4)
    for tag in metrics:
        assert [step for step, _ in scalars[tag]] == steps
        assert all(0.0 <= value <= 1.0 for _, value in scalars[tag])
    for (_, logged), entry in zip(scalars[metrics[0]], curve):
        assert logged == pytest.approx(entry["val_accuracy"], abs=1e-4)
