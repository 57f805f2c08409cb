"""The typed run record: one constructor, the schema in one place, checked on read."""

from __future__ import annotations

import json

import pytest
from suitekit import suite

from harness.errors import DataError
from harness.records import read_record, write_record
from harness.run_record import RunRecord


def _spec():
    return suite(methods={"scratch": {}})[0]


def test_a_scored_record_round_trips_and_a_failed_one_has_no_scored_fields(tmp_path):
    spec = _spec()
    ok = RunRecord.start(spec)
    ok.scored(primary_score=0.75, primary_metric="accuracy", metrics={"accuracy": 0.75})
    ok.created = "2026-12-06T00:00:00+00:00"
    d = ok.to_dict()
    assert list(d)[:5] == ["schema_version", "run_id", "status", "spec", "comparable"]
    assert d["best_epoch"] is None and "untrained_heads" not in d and "predictions" not in d
    assert RunRecord.from_dict(d).to_dict() == d
    failed = RunRecord.start(spec)
    failed.fail("ValueError: boom", "Traceback ...")
    f = failed.to_dict()
    assert f["status"] == "failed" and f["error"] == "ValueError: boom"
    assert "primary_score" not in f and "metrics" not in f
    with pytest.raises(TypeError, match="unknown field 'score'"):
        ok.scored(score=1.0)


def test_records_of_a_newer_schema_keep_their_extra_fields_and_bad_ones_are_named(tmp_path):
    spec = _spec()
    rec = RunRecord.start(spec)
    rec.scored(primary_score=0.5, primary_metric="accuracy")
    d = {**rec.to_dict(), "added_later": {"x": 1}}
    back = RunRecord.from_dict(d)
    assert back.other == {"added_later": {"x": 1}} and back.to_dict()["added_later"] == {"x": 1}
    assert back.run_spec.id == spec.id
    path = write_record(d, tmp_path)
    assert read_record(path)["added_later"] == {"x": 1}
    path.write_text(json.dumps({**d, "status": "maybe"}))
    with pytest.raises(DataError, match=r"not a valid run record: status must be 'ok' or 'failed'"):
        read_record(path)


def test_an_older_record_without_the_later_fields_still_loads():
    spec = _spec()
    old = {
        "schema_version": 1,
        "run_id": spec.id,
        "status": "ok",
        "spec": {k: v for k, v in spec.to_dict().items() if k not in ("task_set", "limit")},
        "primary_score": 0.6,
        "primary_metric": "accuracy",
    }
    rec = RunRecord.from_dict(old)
    assert rec.comparable is True and rec.run_spec.id == spec.id
