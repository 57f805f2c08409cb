"""One run identity: every key and label comes from `RunSpec`, and a task-set run is named by
its task set wherever it is shown."""

from __future__ import annotations

from pathlib import Path

from suitekit import suite

from harness.records import find_records, read_record
from harness.spec import RunSpec, describe_label, spec_of
from harness.workflows.submission_format import describe, grid_key

REFERENCE = Path(__file__).resolve().parent.parent / "results" / "reference" / "nightly"
TASK_SET = ["synth_text_anchor", "synth_text_near"]


def _task_set_spec(seed: int = 0) -> RunSpec:
    (spec,) = suite(methods={"mtdnn": {}}, task_set=TASK_SET, seeds=[seed])
    return spec


def test_keys_are_one_hash_with_and_without_the_seed_and_task_versions():
    a, b = _task_set_spec(0), _task_set_spec(1)
    assert a.id == a.key() and a.id != b.id
    assert a.group_key == b.group_key == a.key(seed=False) != a.id
    stale = RunSpec.from_dict({**a.to_dict(), "task_versions": {"synth_text_near": "old"}})
    assert stale.id != a.id and grid_key(stale) == grid_key(a) == a.key(task_versions=False)
    assert grid_key(a, seed=False) == grid_key(b, seed=False)


def test_a_task_set_run_is_named_by_its_task_set_everywhere():
    spec = _task_set_spec()
    named = "{synth_text_anchor,synth_text_near}"
    assert spec.source_label == named and spec.label()["source"] == named
    assert f"| {named} -> synth_text_near |" in spec.describe()  # logs and the runner
    assert named in describe_label(spec.label())  # compare and history
    assert named in describe(spec.to_dict())  # submission messages


def test_the_leaderboard_names_a_task_set_run_as_the_spec_does(tmp_path):
    from suitekit import BUDGET, run

    from harness.analysis.gains import records_frame

    specs = suite(
        methods={"mtdnn": {"optimizer": "adamw", "grad_cosine_every": 0}},
        task_set=TASK_SET,
        limit=40,
        budget={**BUDGET, "num_train_epochs": 1},
    )
    _, outcome, records = run(specs, tmp_path / "out", tmp_path / "cache")
    assert not outcome.failed
    frame = records_frame(list(records.values()))
    assert set(frame["sources"]) == {specs[0].source_label}


def test_committed_records_keep_their_ids():
    """Records written before identity moved into RunSpec read back with the same id."""
    paths = find_records(REFERENCE)
    assert paths
    for path in paths:
        record = read_record(path)
        assert spec_of(record["spec"]).id == record["run_id"] == path.stem
