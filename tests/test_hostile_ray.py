"""Hostile Ray settings (issue #18): an unreachable `--ray_address` is an error naming it within
seconds (Ray itself retries for minutes); a run asking for more GPUs or CPUs than the cluster has
is an error naming the option (Ray would queue it forever); and the Ray executor skips recorded
runs exactly as the local runner does (`records.already_recorded`): a record made from other
data than today's is run again."""

from __future__ import annotations

import sys
import time
import types

import pytest
from suitekit import free_port, suite

from harness.errors import ConfigError
from harness.executors import RunnerSettings, check_resources, ray_endpoint, run_with_ray
from harness.records import write_record
from harness.spec import RunSpec


def test_an_unreachable_ray_address_is_named_within_seconds(tmp_path, run_main):
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ConfigError, match=rf"--ray_address {address}: no Ray cluster answers"):
        run_with_ray([], RunnerSettings(output_dir=str(tmp_path)), address=address)
    assert time.monotonic() - started < 15
    proc = run_main(
        "run",
        "--targets",
        "synth_text_near",
        "--methods",
        "scratch",
        "--executor",
        "ray",
        "--ray_address",
        "127.0.0.1:1",
        "--output_dir",
        tmp_path / "out",
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--ray_address 127.0.0.1:1" in proc.stderr and "Traceback" not in proc.stderr
    assert time.monotonic() - started < 60


@pytest.mark.parametrize(
    "address,endpoint",
    [
        ("10.0.0.5:6379", ("10.0.0.5", 6379)),
        ("ray://head:10001", ("head", 10001)),
        ("ray://head", ("head", 10001)),
        ("head", ("head", 6379)),
        ("[::1]:6380", ("::1", 6380)),
        ("auto", None),
    ],
)
def test_ray_address_forms(address, endpoint):
    assert ray_endpoint(address) == endpoint


@pytest.mark.parametrize("address", ["head:port", "head:0", "head:70000", "ray://:10001"])
def test_a_malformed_ray_address_is_named(address):
    with pytest.raises(ConfigError, match="--ray_address"):
        ray_endpoint(address)


@pytest.mark.parametrize(
    "cpus,gpus,flag",
    [
        (4, 0, "--ray_cpus_per_run 4"),
        (1, 1, "--ray_gpus_per_run 1"),
        (1, 0.5, "--ray_gpus_per_run 0.5"),
    ],
)
def test_more_resources_per_run_than_the_cluster_has_is_named(cpus, gpus, flag):
    with pytest.raises(ConfigError, match=rf"{flag}: the local Ray instance has \d+ (CPU|GPU)"):
        check_resources({"CPU": 2.0, "memory": 1e9}, cpus, gpus, "the local Ray instance")
    check_resources({"CPU": 2.0, "GPU": 1.0}, 2, 1, "here")  # fits: no error


def test_gpus_per_run_on_a_cluster_without_them_is_named(tmp_path):
    ray = pytest.importorskip("ray", reason="the ray extra is part of the test install (README)")
    specs = suite(methods={"scratch": {}})
    settings = RunnerSettings(output_dir=str(tmp_path / "out"), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(
        ConfigError, match=r"--ray_gpus_per_run 64: the local Ray instance has \d+ GPU"
    ):
        run_with_ray(specs, settings, gpus_per_run=64, num_cpus=1)
    assert not ray.is_initialized()  # the instance started for the check is shut down again
    assert not (tmp_path / "out" / "runs").exists()  # nothing ran


# --- skipping recorded runs: the runner's logic, shared ------------------------------------------


class FakeRay(types.ModuleType):
    """Enough of `ray` for the driver's side: tasks are recorded, not run."""

    def __init__(self):
        super().__init__("ray")
        self.sent: list[str] = []

    def is_initialized(self) -> bool:
        return True  # as if the caller had connected: no init, no shutdown

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": 2.0}

    def remote(self, **_):
        def wrap(fn):
            def remote(spec, settings):
                self.sent.append(RunSpec.from_dict(spec).id)
                return {
                    "run_id": self.sent[-1],
                    "status": "ok",
                    "pid": 1,
                    "cache_counts": {},
                    "prepare_seconds": 0.0,
                }

            return types.SimpleNamespace(remote=remote)

        return wrap

    def get(self, results):
        return results


def _record(spec, status: str, fingerprints: dict) -> dict:
    record = {
        "schema_version": 1,
        "run_id": spec.id,
        "status": status,
        "spec": spec.to_dict(),
        "provenance": {"dataset_fingerprints": fingerprints},
    }
    if status == "ok":
        record.update(primary_metric="accuracy", primary_score=0.5, metrics={"accuracy": 0.5})
    else:
        record["error"] = "boom"
    return record


@pytest.mark.parametrize("rerun_failed,given_runner", [(False, True), (True, True), (False, False)])
def test_the_ray_executor_skips_recorded_runs_as_the_runner_does(
    rerun_failed, given_runner, tmp_path, monkeypatch
):
    from harness.runner import SuiteRunner

    out = tmp_path / "out"
    specs = suite(methods={"scratch": {}}, seeds=[0, 1, 2, 3])
    runner = SuiteRunner(out, cache_dir=tmp_path / "cache")
    today = runner.store.data("synth_text_near").fingerprints
    write_record(_record(specs[0], "ok", {"synth_text_near": today}), out)  # same data: skipped
    write_record(_record(specs[1], "ok", {"synth_text_near": "other data"}), out)  # changed: rerun
    write_record(_record(specs[2], "failed", {"synth_text_near": today}), out)  # failed
    fake = FakeRay()
    monkeypatch.setitem(sys.modules, "ray", fake)
    settings = RunnerSettings(output_dir=str(out), rerun_failed=rerun_failed)
    outcome = run_with_ray(specs, settings, runner=runner if given_runner else None)
    failed = [specs[2].id] if not rerun_failed else []
    assert sorted(fake.sent) == sorted(
        [specs[1].id, specs[3].id, *([specs[2].id] if rerun_failed else [])]
    )
    assert sorted(outcome.skipped) == sorted([specs[0].id, *failed])
    assert outcome.failed_before == failed
