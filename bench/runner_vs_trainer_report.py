"""What `bench_runner_vs_trainer.py` counts and prints: a collator wrapper counting rows and
tokens per batch, and the table of throughput, padding and dev scores with the paired ratios."""

from __future__ import annotations

import argparse
import math
import statistics
from typing import Any

import torch

TARGET = 1.3


class Counted:
    """Wraps a collator; records rows, padded tokens and real (attended) tokens per batch."""

    def __init__(self, collate: Any):
        self.collate = collate
        self.batches: list[tuple[int, int, int]] = []

    def reset(self) -> None:
        self.batches = []

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.collate(rows)
        ids, mask = batch["input_ids"], batch.get("attention_mask")
        real = int(mask.sum()) if mask is not None else ids.numel()
        self.batches.append((ids.shape[0], ids.numel(), real))
        return batch

    def summary(self, rows: int | None = None) -> dict[str, int]:
        """Totals over the first batches covering `rows` rows (all batches when None): the
        runner's collator also serves the evaluation that follows its timed loop."""
        out = {"rows": 0, "tokens": 0, "real": 0}
        for n, tokens, real in self.batches:
            if rows is not None and out["rows"] >= rows:
                break
            out["rows"] += n
            out["tokens"] += tokens
            out["real"] += real
        return out


LABELS = {
    "runner": "runner (train_model: dynamic pad + LengthGroupedSampler, Accelerate)",
    "dynamic": "Trainer, DataCollatorWithPadding() + group_by_length",
    "padded": "Trainer, DataCollatorWithPadding(padding='max_length')",
}


def dev_scores(card, dev: dict[str, float]) -> str:
    return " ".join(f"{m} {dev[m]:.3f}" for m in card.metrics if m in dev)


def report(args: argparse.Namespace, card, results: dict[str, list], n_dev: int) -> None:
    median = {}
    print()
    print(
        f"{'configuration':72s} {'examples/s':>10s} {'spread':>13s} {'tok/row':>8s} "
        f"{'real tok':>8s} {'dev ' + card.primary_metric:>9s}"
    )
    for config, runs in results.items():
        rates = [counts["rows"] / s for s, counts, _, _ in runs]
        median[config] = statistics.median(rates)
        counts = runs[0][1]
        dev = statistics.median(d[card.primary_metric] for *_, d in runs)
        print(
            f"{LABELS[config]:72s} {median[config]:10.1f} {min(rates):6.1f}-{max(rates):6.1f} "
            f"{counts['tokens'] / counts['rows']:8.1f} {counts['real'] / counts['tokens']:8.0%} "
            f"{dev:9.3f}"
        )
    paired = {
        ref: [
            (results["runner"][i][1]["rows"] / results["runner"][i][0])
            / (results[ref][i][1]["rows"] / results[ref][i][0])
            for i in range(args.repeats)
        ]
        for ref in ("dynamic", "padded")
    }
    print()
    ratio = statistics.median(paired["dynamic"])
    verdict = "meets" if ratio >= TARGET else "BELOW"
    print(
        f"runner / Trainer(dynamic pad + group_by_length): {ratio:5.2f}x  "
        f"(per repeat {_span(paired['dynamic'])}; target >= {TARGET}x: {verdict})"
    )
    print(
        f"runner / Trainer(padded to max_length):          "
        f"{statistics.median(paired['padded']):5.2f}x  (per repeat {_span(paired['padded'])})"
    )
    # dev scores: within noise = within two standard errors of a difference of two accuracies
    # on n rows (binomial), at the reference's accuracy
    if "accuracy" in card.metrics:
        acc = {c: statistics.median(d["accuracy"] for *_, d in runs) for c, runs in results.items()}
        p = acc["dynamic"]
        band = 2 * math.sqrt(2 * p * (1 - p) / n_dev)
        diff = acc["runner"] - p
        same = "within noise" if abs(diff) <= band else "OUTSIDE noise"
        print(
            f"dev accuracy runner - Trainer(dynamic): {diff:+.3f} on {n_dev} rows; noise band "
            f"+/-{band:.3f} (2 standard errors of a difference): {same}"
        )
    print(
        "\nFairness: same model and initial weights, same tokenized rows, batch size, optimizer "
        "steps, learning rate, AdamW settings and precision; nothing but training in the timed "
        "region (runner: TrainResult.train_seconds; Trainer: on_epoch_begin..on_epoch_end); "
        "every model scored by the same evaluation after its run. The Trainer keeps its "
        "default optimizer implementation (adamw_torch_fused)."
    )


def _span(values: list[float]) -> str:
    return f"{min(values):.2f}-{max(values):.2f}, median {statistics.median(values):.2f}"
