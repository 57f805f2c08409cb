"""GPU fine-tuning throughput and MFU: BERT-base on SST-2-shaped batches through the project's loop.

The model is the project's: `harness.backbones.Encoder` around a BERT-base built from
`transformers.BertConfig()` defaults (12 layers, hidden 768, 12 heads, random init, nothing
downloaded; no pooler, mean pooling) plus a `harness.heads.TaskHead` (2 classes). It trains
through `harness.training.train_model` on an Accelerator set up as
`harness.runner.make_accelerator` sets one up (`--precision bf16`: Accelerate's bf16 autocast,
float32 loss; `--compile`: `torch.compile` by `prepare`), with the loop's AdamW (fused on a
GPU; `--no-fused`: unfused), linear warm-up/decay and gradient clipping at 1.0. Batches are
synthetic token ids, every row `--seq_len` tokens (SST-2 padded to 128, as `run_glue.py` does),
with an all-ones attention mask (`--no-mask`: none).

Timing: a step hook synchronises the GPU after `--warmup` optimizer steps, then after each of
`--repeats` windows of `--steps` steps; samples/s is the median window. The hook ends the run
after the last window (evaluation is not measured), or 3 steps later under `--profile`. MFU counts the model's FLOPs:

    FLOPs per token = 6 * N + 12 * n_layers * hidden * seq_len      (forward + backward)

N = non-embedding parameters (encoder layers and head); the second term is attention's
QK^T and AV (PaLM, appendix B). MFU = samples/s * seq_len * FLOPs per token / peak, the peak
being the GPU's dense bf16 rate (H100 SXM and H200: 989 TFLOP/s), also for `--precision fp32`.

    python bench/bench_gpu_finetune.py                      # bf16, batch 32, length 128
    python bench/bench_gpu_finetune.py --compile
    python bench/bench_gpu_finetune.py --tiny --steps 2     # a 2-layer toy, runs on a CPU

It imports neither `datasets` nor `evaluate` (the GPU image has neither).
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import logging
import statistics
import time
from functools import partial
from typing import Any

import torch
from torch.utils.data import Dataset

# dense bf16 tensor-core peaks (no sparsity), by a name fragment of `torch.cuda.get_device_name`
PEAK_TFLOPS = (("H100 PCIe", 756.0), ("H100", 989.0), ("H200", 989.0), ("A100", 312.0))

# --sdpa_backend: the SDPA kernels left enabled (math stays as the fallback torch reports)
SDPA_BACKENDS = {
    "auto": ("flash", "mem_efficient", "cudnn", "math"),
    "flash": ("flash", "math"),
    "efficient": ("mem_efficient", "math"),
    "cudnn": ("cudnn", "math"),
    "math": ("math",),
}

CARD = dict(
    name="sst2_shaped",
    version=1,
    modality="text",
    problem="classification",
    inputs={"text": "sentence"},
    label="label",
    label_names=("negative", "positive"),
    splits={"train": "train", "validation": "validation", "test": "validation"},
    metrics=("accuracy",),
    primary_metric="accuracy",
    direction="max",
    data={},
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch_size", type=int, default=None, help="rows per step (32; --tiny 4)")
    p.add_argument("--seq_len", type=int, default=None, help="tokens per row (128; --tiny 16)")
    p.add_argument("--steps", type=int, default=20, help="optimizer steps per timed window")
    p.add_argument("--warmup", type=int, default=None, help="untimed first steps (10; --tiny 1)")
    p.add_argument("--repeats", type=int, default=5, help="timed windows, median of (5)")
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (inductor)")
    p.add_argument(
        "--compile_mode",
        default="default",
        help="torch.compile mode: default | reduce-overhead (CUDA graphs) | "
        "max-autotune-no-cudagraphs (Triton GEMM templates, epilogue fusion)",
    )
    p.add_argument(
        "--sdpa_backend",
        choices=sorted(SDPA_BACKENDS),
        default="auto",
        help="scaled-dot-product attention kernels allowed (auto: torch's choice; "
        "flash needs --no-mask)",
    )
    p.add_argument("--no-fused", dest="fused", action="store_false", help="unfused AdamW")
    p.add_argument("--attn", default="sdpa", help="attn_implementation (sdpa | eager)")
    p.add_argument(
        "--no-mask",
        dest="mask",
        action="store_false",
        help="no attention_mask in the batches (all rows are full length)",
    )
    p.add_argument(
        "--dropout",
        type=float,
        default=None,
        help="hidden and attention-probability dropout (BertConfig's 0.1); 0 "
        "measures what dropout costs",
    )
    p.add_argument("--tiny", action="store_true", help="a 2-layer, hidden-64 BERT (CPU test)")
    p.add_argument(
        "--profile",
        default=None,
        help="write a torch.profiler table of 3 steps after the timed windows to this file",
    )
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's choice)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    small = {"batch_size": 4, "seq_len": 16, "warmup": 1}
    for key, value in {"batch_size": 32, "seq_len": 128, "warmup": 10}.items():
        if getattr(args, key) is None:
            setattr(args, key, small[key] if args.tiny else value)
    return args


class SyntheticRows(Dataset):
    """`n` rows of `seq_len` random token ids and a random label (seeded)."""

    def __init__(self, n: int, seq_len: int, vocab_size: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, vocab_size, (n, seq_len), generator=g)
        self.labels = torch.randint(0, 2, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "labels": self.labels[i]}


def collate(rows: list[dict[str, torch.Tensor]], mask: bool = True) -> dict[str, torch.Tensor]:
    ids = torch.stack([r["input_ids"] for r in rows])
    batch = {"input_ids": ids, "labels": torch.stack([r["labels"] for r in rows])}
    if mask:  # what the project's collator gives; all ones here, every row being full length
        batch["attention_mask"] = torch.ones_like(ids)
    return batch


def build(args: argparse.Namespace):
    """(model, config): the project's encoder + head around BERT-base (or the tiny one)."""
    from transformers import AutoModel, BertConfig

    from harness.backbones import Encoder
    from harness.heads import EncoderWithHead, TaskHead

    small = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256)
    dropout = (
        {}
        if args.dropout is None
        else {"hidden_dropout_prob": args.dropout, "attention_probs_dropout_prob": args.dropout}
    )
    config = BertConfig(**(small if args.tiny else {}), **dropout)
    torch.manual_seed(args.seed)
    bert = AutoModel.from_config(config, add_pooling_layer=False, attn_implementation=args.attn)
    model = EncoderWithHead(
        Encoder(bert, "text", config.hidden_size), TaskHead(config.hidden_size, 2)
    )
    return model, config


def flops_per_token(model: torch.nn.Module, config: Any, seq_len: int) -> tuple[float, int]:
    """(6 N + 12 L H S, N): N counts every parameter outside the embeddings."""
    embeddings = {id(p) for p in model.encoder.model.embeddings.parameters()}
    n = sum(p.numel() for p in model.parameters() if id(p) not in embeddings)
    return 6 * n + 12 * config.num_hidden_layers * config.hidden_size * seq_len, n


def peak_flops(cuda: bool) -> tuple[float | None, str]:
    if not cuda:
        return None, "cpu"
    name = torch.cuda.get_device_name()
    for fragment, tflops in PEAK_TFLOPS:
        if fragment in name:
            return tflops * 1e12, name
    return None, name


class StopBench(Exception):
    """Raised by the timing hook after the last window: the run ends there."""


class WindowTimer:
    """A step hook: synchronise and read the clock after the warm-up and after each window;
    with `profile`, run torch.profiler over 3 more steps after the last window (so that it
    cannot slow the timed ones), then end the run."""

    def __init__(self, warmup: int, steps: int, repeats: int, cuda: bool, profile: str | None):
        self.marks = [warmup + k * steps for k in range(repeats + 1)]
        self.cuda, self.profile = cuda, profile
        self.times: list[float] = []
        self.profiler: Any = None

    def __call__(self, state: Any) -> None:
        if state.step in self.marks:
            self._sync()
            self.times.append(time.perf_counter())
        if state.step == self.marks[-1] + 3 * bool(self.profile):
            if self.profiler is not None:
                self._write_profile()
            raise StopBench
        if self.profile and state.step == self.marks[-1]:
            self.profiler = torch.profiler.profile()  # CPU, and CUDA where there is one
            self.profiler.__enter__()
            self.profiled_from = time.perf_counter()

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def _write_profile(self) -> None:
        self._sync()
        wall = time.perf_counter() - self.profiled_from
        self.profiler.__exit__(None, None, None)
        events = self.profiler.key_averages()
        key = "self_device_time_total" if self.cuda else "self_cpu_time_total"
        with open(self.profile, "w") as f:
            f.write(f"3 steps after the timed windows, {wall * 1e3:.1f} ms wall; by {key}\n")
            f.write(events.table(sort_by=key, row_limit=40, max_name_column_width=90) + "\n")
        print(f"profile: {self.profile} (3 steps after the timed windows)")
        self.profiler = None

    def windows(self) -> list[float]:
        return [b - a for a, b in zip(self.times, self.times[1:])]


def make_accelerator(precision: str, compile_mode: str | None = None):
    """An Accelerator set up as `harness.runner.make_accelerator` sets one up on one device:
    bf16 autocast, Inductor when compiling (in `compile_mode`), non-blocking batch copies on a
    GPU. (That module imports `datasets`, which the GPU image lacks.)"""
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration, TorchDynamoPlugin

    plugin = TorchDynamoPlugin(backend="inductor", mode=compile_mode) if compile_mode else None
    copies = DataLoaderConfiguration(non_blocking=torch.cuda.is_available())
    mixed = "bf16" if precision == "bf16" else "no"
    return Accelerator(mixed_precision=mixed, dynamo_plugin=plugin, dataloader_config=copies)


def set_sdpa_backend(name: str) -> None:
    """Enable only the SDPA kernels of `SDPA_BACKENDS[name]` (process-wide, before tracing)."""
    allowed = SDPA_BACKENDS[name]
    torch.backends.cuda.enable_flash_sdp("flash" in allowed)
    torch.backends.cuda.enable_mem_efficient_sdp("mem_efficient" in allowed)
    torch.backends.cuda.enable_cudnn_sdp("cudnn" in allowed)
    torch.backends.cuda.enable_math_sdp("math" in allowed)


def unfused_adamw(param_groups: list[dict[str, Any]], budget: Any) -> torch.optim.Optimizer:
    return torch.optim.AdamW(
        param_groups, lr=budget.learning_rate, weight_decay=budget.weight_decay, fused=False
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.disable(logging.WARNING)
    import transformers

    from harness.cards import TaskCard
    from harness.spec import Budget
    from harness.training import adamw, train_model

    transformers.logging.set_verbosity_error()
    _quiet_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True  # fp32 runs: TF32 matmuls, as is usual
        torch.backends.cudnn.allow_tf32 = True
    if cuda:
        set_sdpa_backend(args.sdpa_backend)
    accelerator = make_accelerator(args.precision, args.compile and args.compile_mode)
    card = TaskCard(**CARD)
    model, config = build(args)
    per_token, n_params = flops_per_token(model, config, args.seq_len)
    peak, device_name = peak_flops(cuda)
    total = args.warmup + args.steps * args.repeats + (3 if args.profile else 0)
    train = SyntheticRows(total * args.batch_size, args.seq_len, config.vocab_size, args.seed)
    validation = SyntheticRows(args.batch_size, args.seq_len, config.vocab_size, args.seed + 1)
    budget = Budget(
        num_train_epochs=1,
        max_steps=total,
        learning_rate=2e-5,
        warmup_ratio=0.1,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        group_by_length=False,
    )
    timer = WindowTimer(args.warmup, args.steps, args.repeats, cuda, args.profile)
    fused = "on" if args.fused and cuda else "off"
    attention = args.attn + ("" if args.mask else ", no mask")
    attention += "" if args.dropout is None else f", dropout {args.dropout:g}"
    attention += "" if args.sdpa_backend == "auto" else f", SDPA {args.sdpa_backend}"
    compiled = args.compile_mode if args.compile else "off"
    print(
        f"BERT {'tiny' if args.tiny else 'base'} (L{config.num_hidden_layers} "
        f"H{config.hidden_size} A{config.num_attention_heads}, {n_params / 1e6:.1f}M "
        f"non-embedding parameters), batch {args.batch_size} x seq_len {args.seq_len}; "
        f"precision {args.precision}, compile {compiled}, fused AdamW {fused}, attention "
        f"{attention}; device {device_name}; torch {torch.__version__}, "
        f"transformers {transformers.__version__}",
        flush=True,
    )
    print(
        f"path: harness.training.train_model (step hook timing), {total} optimizer steps = "
        f"{args.warmup} warm-up + {args.repeats} windows x {args.steps}"
        f"{' + 3 profiled' if args.profile else ''}",
        flush=True,
    )
    try:
        train_model(
            model,
            card,
            train,
            validation,
            validation,
            partial(collate, mask=args.mask),
            budget,
            accelerator,
            args.seed,
            step_hooks=[timer],
            optimizer=adamw if args.fused else unfused_adamw,
            desc="bench",
        )
    except StopBench:
        pass
    windows = timer.windows()
    if len(windows) != args.repeats:
        raise SystemExit(f"the loop stopped early: {len(windows)} of {args.repeats} windows timed")
    rates = [args.steps * args.batch_size / s for s in windows]
    rate = statistics.median(rates)
    achieved = rate * args.seq_len * per_token
    print("windows samples/s: " + " ".join(f"{r:.1f}" for r in rates))
    print(f"samples/s: {rate:.1f}")
    print(f"tokens/s: {rate * args.seq_len:.0f}")
    print(
        f"FLOPs/token: {per_token / 1e9:.4f} G = 6 x {n_params} + 12 x "
        f"{config.num_hidden_layers} x {config.hidden_size} x {args.seq_len}"
    )
    print(f"achieved: {achieved / 1e12:.4g} TFLOP/s")
    if peak is None:
        print(f"MFU: n/a (no known bf16 peak for {device_name})")
    else:
        print(
            f"MFU: {100 * achieved / peak:.1f}% of {peak / 1e12:.0f} TFLOP/s "
            f"(dense bf16 peak assumed for {device_name})"
        )
    if cuda:
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")


def _quiet_progress_bar() -> None:
    """No progress bar from the loop (display only; the loop itself is untouched)."""
    from tqdm.auto import tqdm

    import harness.training

    harness.training.tqdm = lambda *a, **k: tqdm(*a, **{**k, "disable": True})


if __name__ == "__main__":
    main()
