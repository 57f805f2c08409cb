"""What keeps a CPU fine-tuning run's peak memory down: the longest batch first, oneDNN off for
float32 models without convolutions, a pinned glibc mmap threshold and the best epoch on disk.
(The figures are bench/bench_memory_vs_trainer.py's; these tests check the mechanisms.)"""

from __future__ import annotations

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from harness import hostmemory
from harness.hostmemory import onednn_enabled, onednn_pays
from harness.training import LengthGroupedSampler


def batches_of(sampler: LengthGroupedSampler, size: int) -> list[list[int]]:
    order = list(sampler)
    return [order[i : i + size] for i in range(0, len(order), size)]


def test_the_batch_holding_the_longest_row_comes_first_every_epoch():
    lengths = [(i * 37) % 101 + 1 for i in range(500)]
    longest = max(range(len(lengths)), key=lengths.__getitem__)
    sampler = LengthGroupedSampler(lengths, batch_size=16, seed=3, mega=4)
    firsts = []
    for _ in range(3):
        batches = batches_of(sampler, 16)
        assert longest in batches[0]
        assert sorted(i for b in batches for i in b) == list(range(500))  # still a permutation
        firsts.append(batches[0])
    later = [batches_of(LengthGroupedSampler(lengths, 16, seed=s, mega=4), 16)[1] for s in (0, 1)]
    assert later[0] != later[1]  # the rest stays shuffled by the seed


def test_onednn_is_kept_for_convolutions_and_mixed_precision_only():
    cpu = SimpleNamespace(device=torch.device("cpu"), mixed_precision="no")
    transformer = nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.LayerNorm(8))
    convnet = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    assert not onednn_pays(transformer, cpu)
    assert onednn_pays(convnet, cpu)
    assert onednn_pays(transformer, SimpleNamespace(device=cpu.device, mixed_precision="bf16"))
    assert onednn_pays(
        transformer, SimpleNamespace(device=torch.device("cuda"), mixed_precision="no")
    )


def test_the_onednn_switch_is_restored_even_on_error():
    before = torch.backends.mkldnn.enabled
    with pytest.raises(RuntimeError), onednn_enabled(not before):
        assert torch.backends.mkldnn.enabled is (not before)
        raise RuntimeError("boom")
    assert torch.backends.mkldnn.enabled is before


def test_gelu_gives_the_same_numbers_with_onednn_off():
    x = torch.randn(4, 9, 64, requires_grad=True)
    with onednn_enabled(True):
        y1 = nn.functional.gelu(x)
        (g1,) = torch.autograd.grad(y1.sum(), x)
    with onednn_enabled(False):
        y2 = nn.functional.gelu(x)
        (g2,) = torch.autograd.grad(y2.sum(), x)
    torch.testing.assert_close(y1, y2)
    torch.testing.assert_close(g1, g2)


@pytest.mark.skipif(hostmemory._libc() is None, reason="glibc only (a no-op elsewhere)")
def test_the_allocator_is_tuned_once_and_a_user_setting_wins():
    code = (
        "from harness import hostmemory as h; a = h.tune_allocator(); b = h.tune_allocator(); "
        "h.release_free_memory(); print(a, b)"
    )
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["True", "True"], out.stderr  # cached: set once
    env["MALLOC_MMAP_THRESHOLD_"] = "4194304"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.split() == ["False", "False"], out.stderr


def test_large_blocks_are_mapped_and_returned_under_the_pinned_threshold():
    """glibc's own account (`mallinfo2().hblkhd`: bytes in mmapped blocks, which go back to the
    system when freed). Unpinned, a freed 20 MB block raises the dynamic threshold to 20 MB, so
    a 16 MB activation then comes from the heap (where it leaves a hole); pinned, it is mapped."""
    if hostmemory._libc() is None or not hasattr(hostmemory._libc(), "mallinfo2"):
        pytest.skip("glibc >= 2.33 only")
    code = """
import ctypes, torch
from harness import hostmemory
TUNE
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
libc = hostmemory._libc()
libc.mallinfo2.restype = Info
x = torch.ones(5 * 2**20)  # 20 MB, mapped, then freed: the dynamic threshold climbs past it
del x
before = libc.mallinfo2().hblkhd
y = torch.ones(4 * 2**20)  # 16 MB: a large activation
print((libc.mallinfo2().hblkhd - before) // 2**20)
"""
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"}

    def mapped_mb(tune: str) -> int:
        out = subprocess.run(
            [sys.executable, "-c", code.replace("TUNE", tune)],
            env=env,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        return int(out.stdout.strip())

    assert mapped_mb("hostmemory.tune_allocator()") >= 16
    assert mapped_mb("") == 0  # the check can fail: unpinned, the block came from the heap


def test_the_best_epoch_waits_on_disk_not_as_a_second_model_in_memory(monkeypatch, tmp_path):
    """Validation 0.5, 0.9, 0.6: while epoch 3 is validated only epoch 2's weights are kept
    (one file; epoch 1's was dropped when epoch 2 beat it), and the folder is gone after."""
    import tempfile

    from test_training_paths import fit, head_model, separable

    from harness import training

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    scripted = iter([0.5, 0.9, 0.6])
    seen: list[list[str]] = []
    real = training.evaluate_loader

    def evaluate_loader(model, loader, card, accelerator, task=None):
        seen.append(sorted(p.name for p in tmp_path.glob("transferbench-best-*/*")))
        if len(seen) <= 3:
            return {"accuracy": next(scripted), "f1": 0.0}
        return real(model, loader, card, accelerator, task)

    monkeypatch.setattr(training, "evaluate_loader", evaluate_loader)
    res = fit(
        head_model(),
        separable(128),
        {"num_train_epochs": 3, "per_device_train_batch_size": 16, "learning_rate": 0.05},
    )
    assert res.best_epoch == 2
    assert seen == [[], ["epoch-1.pt"], ["epoch-2.pt"], ["epoch-2.pt"]]
    assert not list(tmp_path.glob("transferbench-best-*"))
