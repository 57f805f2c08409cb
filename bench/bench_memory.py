"""Peak memory of fine-tuning BERT-base at batch 32, with and without gradient checkpointing.

BERT-base (L12/H768/A12, built from its config: no download) with a classification head, the
harness's encoder (`harness.backbones.Encoder`, mean pooling) and AdamW, trains `--steps` steps
on random token batches of `--batch_size` x `--max_length` (default 32 x 128, SST-2-shaped
from `bench_gpu_finetune.py`). Each configuration runs in its own process, so one's freed
memory cannot hide in the other's allocator:

- plain: every activation kept for the backward pass;
- checkpointing: `Encoder.enable_gradient_checkpointing()` (what the budget field
  `gradient_checkpointing: true` does), each transformer layer recomputed in the backward pass.

Printed per configuration: peak resident memory of the process (CPU; Linux VmHWM) or peak CUDA
allocation (GPU), seconds per step, and the ratios plain / checkpointing for memory and
checkpointing / plain for time.

    python bench/bench_memory.py                      # BERT-base, batch 32, length 128, 2 steps
    python bench/bench_memory.py --steps 1 --max_length 64
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--max_length", type=int, default=128)
    p.add_argument("--steps", type=int, default=2, help="optimizer steps per configuration")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    p.add_argument("--child", choices=["plain", "checkpointing"], help=argparse.SUPPRESS)
    return p.parse_args(argv)


def child(args: argparse.Namespace) -> dict[str, float]:
    import torch
    from transformers import BertConfig, BertModel

    from harness.backbones import Encoder

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    config = BertConfig()  # bert-base-uncased's shape
    encoder = Encoder(BertModel(config, add_pooling_layer=False), "text", config.hidden_size)
    if args.child == "checkpointing":
        encoder.enable_gradient_checkpointing()
    head = torch.nn.Linear(config.hidden_size, 2)
    encoder.to(device).train()
    head.to(device)
    opt = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=2e-5)
    g = torch.Generator().manual_seed(0)
    batch = {
        "input_ids": torch.randint(
            0, config.vocab_size, (args.batch_size, args.max_length), generator=g
        ),
        "attention_mask": torch.ones(args.batch_size, args.max_length, dtype=torch.long),
    }
    batch = {k: v.to(device) for k, v in batch.items()}
    labels = torch.randint(0, 2, (args.batch_size,), generator=g).to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    try:
        Path("/proc/self/clear_refs").write_text("5")  # the peak counts from here
    except OSError:
        pass
    started = time.perf_counter()
    for _ in range(args.steps):
        loss = torch.nn.functional.cross_entropy(head(encoder(**batch)), labels)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - started) / args.steps
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        status = Path("/proc/self/status").read_text()
        peak = (
            next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmHWM:")) / 1024
        )
    return {"peak_mb": peak, "seconds_per_step": seconds, "device": device.type}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return
    results = {}
    for kind in ("plain", "checkpointing"):
        cmd = [
            sys.executable,
            __file__,
            "--child",
            kind,
            "--batch_size",
            str(args.batch_size),
            "--max_length",
            str(args.max_length),
            "--steps",
            str(args.steps),
            "--threads",
            str(args.threads),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode:
            raise SystemExit(f"error: the {kind} configuration failed:\n{proc.stderr[-2000:]}")
        results[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    device = results["plain"]["device"]
    what = "peak CUDA allocation" if device == "cuda" else "peak resident memory (VmHWM)"
    print(
        f"BERT-base fine-tuning, batch {args.batch_size} x length {args.max_length}, "
        f"{args.steps} step(s), {device}; {what}"
    )
    print(f"{'configuration':<16}{'peak MB':>10}{'s/step':>9}")
    for kind, r in results.items():
        print(f"{kind:<16}{r['peak_mb']:>10.0f}{r['seconds_per_step']:>9.2f}")
    plain, ckpt = results["plain"], results["checkpointing"]
    print(
        f"memory plain / checkpointing: {plain['peak_mb'] / ckpt['peak_mb']:.2f}x; "
        f"time checkpointing / plain: {ckpt['seconds_per_step'] / plain['seconds_per_step']:.2f}x"
    )


if __name__ == "__main__":
    main()
