"""The GPU path of the training loop, and `bench/bench_gpu_finetune.py`, checked where they can be:
on the CPU (a tiny BERT) and, marked `gpu`, on a CUDA device. Each check runs in a subprocess:
Accelerate keeps one precision and compile setting per process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness.training import loader_options

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "bench_gpu_finetune.py"

# Train the bench's tiny BERT twice through `train_model` (bf16 autocast; the second time compiled
# by Accelerate's dynamo backend, `backend`) and print what the loop did, as JSON.
PROBE = """
import importlib.util, json, sys
import torch
from accelerate.state import AcceleratorState
spec = importlib.util.spec_from_file_location("bench", sys.argv[1])
bench = importlib.util.module_from_spec(spec); spec.loader.exec_module(bench)
from harness.cards import TaskCard
from harness.spec import Budget
try:  # harness.runner imports `datasets`, which the GPU image lacks: the bench's own copy there
    from harness.runner import make_accelerator
except ImportError:
    make_accelerator = bench.make_accelerator
try:
    import evaluate
except ImportError:  # nor `evaluate`: accuracy by hand there
    import harness.training
    harness.training.compute_metrics = lambda card, p, r: {
        "accuracy": sum(a == b for a, b in zip(p, r)) / len(r)}
from harness.training import adamw, supervised_loss, train_model
facts = {"forward": set(), "loss": set(), "fused": [], "primary": [], "curve": [], "keys": []}
def loss(out, batch, card):
    value = supervised_loss(out, batch, card)
    facts["loss"].add(str(value.dtype))
    return value
def optimizer(groups, budget):
    opt = adamw(groups, budget)
    facts["fused"].append(bool(opt.defaults.get("fused")))
    return opt
args = bench.parse_args(["--tiny"])
card = TaskCard(**bench.CARD)
train = bench.SyntheticRows(64, 16, 1000, 0)
val = bench.SyntheticRows(16, 16, 1000, 1)
budget = Budget(num_train_epochs=2, per_device_train_batch_size=8, group_by_length=False)
for backend in ("no", sys.argv[2]):
    AcceleratorState._reset_state(reset_partial_state=True)
    import os; os.environ["ACCELERATE_DYNAMO_BACKEND"] = backend
    accelerator = make_accelerator("bf16")
    model, _ = bench.build(args)
    hook = model.encoder.model.encoder.layer[0].output.dense.register_forward_hook(
        lambda m, i, o: facts["forward"].add(str(o.dtype)))
    result = train_model(model, card, train, val, val, bench.collate, budget, accelerator, 0,
                         loss=loss, optimizer=optimizer)
    hook.remove()
    facts["primary"].append(result.primary)
    facts["curve"].append(result.curve)
    facts["keys"].append(sorted(model.state_dict()))
print(json.dumps({k: sorted(v) if isinstance(v, set) else v for k, v in facts.items()}))
"""


def _run(*args: str, env: dict[str, str] | None = None, timeout: int = 300) -> str:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _probe(backend: str) -> dict:
    return json.loads(_run("-c", PROBE, str(BENCH), backend).strip().splitlines()[-1])


def test_gpu_bench_runs_tiny_on_cpu_without_datasets():
    # `datasets` and `evaluate` are absent on the GPU image: the bench must not need them
    block = "import sys; sys.modules['datasets'] = sys.modules['evaluate'] = None; "
    run = f"import runpy; runpy.run_path({str(BENCH)!r}, run_name='__main__')"
    out = _run(
        "-c",
        block + run,
        "--tiny",
        "--steps",
        "2",
        "--repeats",
        "2",
        "--threads",
        "1",
        env={"CUDA_VISIBLE_DEVICES": ""},
    )
    assert "precision bf16" in out and "device cpu" in out
    assert "train_model" in out and "1 warm-up + 2 windows x 2" in out
    fields = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert float(fields["samples/s"]) > 0
    assert len(fields["windows samples/s"].split()) == 2
    assert fields["FLOPs/token"].endswith("= 6 x 100098 + 12 x 2 x 64 x 16")
    assert fields["MFU"].startswith("n/a")


def test_bf16_forward_float32_loss_and_a_compiled_model_trains_and_restores_alike():
    facts = _probe("eager")  # dynamo with its eager backend: the same numbers as no compile
    assert facts["forward"] == ["torch.bfloat16"] and facts["loss"] == ["torch.float32"]
    assert facts["fused"] == [True, True]  # fused AdamW on the CPU too (as Trainer has it)
    assert facts["primary"][0] == facts["primary"][1]
    assert facts["curve"][0] == facts["curve"][1]
    assert facts["keys"][0] == facts["keys"][1]  # the caller's model, not `_orig_mod.` names


def test_loader_options_only_on_a_gpu_and_workers_only_for_images():
    class Images(list):
        column_names = ["pixel_values", "labels"]

    assert loader_options(Images(), cuda=False) == {}
    assert loader_options([], cuda=True) == {
        "pin_memory": True,
        "num_workers": 0,
        "persistent_workers": False,
    }
    opts = loader_options(Images(), cuda=True, processes=1)
    assert opts["pin_memory"] and 1 <= opts["num_workers"] <= 4 and opts["persistent_workers"]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_a_gpu_adamw_is_fused_the_forward_is_bf16_and_inductor_trains():
    facts = _probe("inductor")
    assert facts["forward"] == ["torch.bfloat16"] and facts["loss"] == ["torch.float32"]
    assert facts["fused"] == [True, True]
    assert all(0.0 <= p <= 1.0 for p in facts["primary"])
    assert facts["keys"][0] == facts["keys"][1]
