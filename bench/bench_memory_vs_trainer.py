"""Peak memory of a real fine-tuning run: `transferbench run` against a plain `transformers.Trainer`.

The MiniLM encoder in `$TRANSFERBENCH_DATA_DIR/models/all-MiniLM-L6-v2` fine-tuned on real GLUE
RTE (`glue_data/RTE/{train,dev}.tsv`): `--epochs` epochs (3), batch 32, max length 128, learning
rate 5e-5, on the CPU. Each configuration runs in its own process, one after the other (run
it alone on the machine), and reports the process's peak resident memory (Linux VmHWM):

- runner: `transferbench run --targets rte --sources none --methods finetune --backbone <MiniLM>`
  (in-process `harness.cli.main`; its record's per-run peak is printed too);
- Trainer, padded: the `run_glue.py` default (`pad_to_max_length`: every row padded to 128),
  `AutoModelForSequenceClassification`, `Trainer` with `eval_strategy="epoch"`;
- Trainer, dynamic: the same with `DataCollatorWithPadding` (pad to the longest in a batch) and
  `train_sampling_strategy="group_by_length"`.

The children of the Trainer import nothing from `harness`. Printed: peak MB, wall seconds and dev
accuracy per configuration, and runner / Trainer ratios of peak memory (target: <= 1.0x).

    python bench/bench_memory_vs_trainer.py --data_dir ../shared/data          # ~11 min
    python bench/bench_memory_vs_trainer.py --data_dir ../shared/data --epochs 1
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIGS = ("runner", "trainer-padded", "trainer-dynamic")
MODEL = "models/all-MiniLM-L6-v2"
MAX_LENGTH = 128  # a text backbone's default in the harness (`BackboneSpec.max_length`)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data_dir",
        default=os.environ.get("TRANSFERBENCH_DATA_DIR"),
        help="folder holding glue_data/RTE and models/all-MiniLM-L6-v2",
    )
    p.add_argument("--epochs", type=float, default=3.0)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--learning_rate", type=float, default=5e-5)
    p.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    p.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    p.add_argument("--workdir", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def peak_rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return next(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmHWM:")) / 1024


def run_runner(args: argparse.Namespace, workdir: Path) -> dict:
    os.environ["TRANSFERBENCH_CACHE"] = str(workdir / "cache")  # empty: tokenization counted
    from harness.cli import main

    out = workdir / "runner"
    code = main(
        [
            "run",
            "--targets",
            "rte",
            "--sources",
            "none",
            "--methods",
            "finetune",
            "--backbone",
            str(Path(args.data_dir) / MODEL),
            "--data_dir",
            args.data_dir,
            "--num_train_epochs",
            str(args.epochs),
            "--per_device_train_batch_size",
            str(args.batch_size),
            "--learning_rate",
            str(args.learning_rate),
            "--output_dir",
            str(out),
        ]
    )
    if code:
        raise SystemExit(f"transferbench run exited {code}")
    (record,) = [json.loads(p.read_text()) for p in (out / "runs").glob("*.json")]
    # the card's test split is GLUE's dev set (its validation split is held out of train)
    return {
        "accuracy": record["metrics"]["accuracy"],
        "run_peak_mb": record["peak_memory_mb"].get("peak_rss_mb"),
    }


def run_trainer(args: argparse.Namespace, workdir: Path, padded: bool) -> dict:
    import numpy as np
    import pandas as pd
    from datasets import Dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    glue = Path(args.data_dir) / "glue_data" / "RTE"
    labels = {"not_entailment": 0, "entailment": 1}

    def read(name: str) -> Dataset:
        frame = pd.read_csv(glue / name, sep="\t", quoting=3, keep_default_na=False)
        frame["label"] = frame["label"].map(labels)
        return Dataset.from_pandas(frame[["sentence1", "sentence2", "label"]])

    model_dir = str(Path(args.data_dir) / MODEL)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)

    def tokenize(batch: dict) -> dict:
        return tokenizer(
            batch["sentence1"],
            batch["sentence2"],
            truncation=True,
            max_length=MAX_LENGTH,
            padding="max_length" if padded else False,
        )

    train, dev = (
        read(n).map(tokenize, batched=True, remove_columns=["sentence1", "sentence2"])
        for n in ("train.tsv", "dev.tsv")
    )
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)
    extra = {} if padded else {"train_sampling_strategy": "group_by_length"}
    targs = TrainingArguments(
        output_dir=str(workdir / "trainer"),
        num_train_epochs=args.epochs,
        per_device_train_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        eval_strategy="epoch",
        save_strategy="no",
        logging_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        seed=0,
        **extra,
    )

    def accuracy(pred) -> dict:
        return {"accuracy": float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())}

    trainer = Trainer(
        model=model,
        args=targs,
        train_dataset=train,
        eval_dataset=dev,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=accuracy,
    )
    trainer.train()
    return {"accuracy": trainer.evaluate()["eval_accuracy"]}


def child(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    started = time.perf_counter()
    if args.child == "runner":
        out = run_runner(args, workdir)
    else:
        out = run_trainer(args, workdir, padded=args.child == "trainer-padded")
    out.update(peak_mb=peak_rss_mb(), seconds=time.perf_counter() - started)
    print("RESULT " + json.dumps(out), flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if not args.data_dir or not (Path(args.data_dir) / MODEL).is_dir():
        raise SystemExit(f"error: --data_dir (or $TRANSFERBENCH_DATA_DIR) must hold {MODEL}")
    if args.child:
        child(args)
        return
    results = {}
    for config in args.configs:
        with tempfile.TemporaryDirectory(prefix="tb-mem-") as workdir:
            cmd = [
                sys.executable,
                __file__,
                "--child",
                config,
                "--workdir",
                workdir,
                "--data_dir",
                args.data_dir,
                "--epochs",
                str(args.epochs),
                "--batch_size",
                str(args.batch_size),
                "--learning_rate",
                str(args.learning_rate),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode or not lines:
            raise SystemExit(f"error: {config} failed:\n{proc.stderr[-3000:]}")
        results[config] = json.loads(lines[-1][len("RESULT ") :])
        r = results[config]
        print(f"  {config}: {r['peak_mb']:.0f} MB, {r['seconds']:.0f} s", flush=True)
    print(
        f"\nMiniLM-L6 on GLUE RTE, {args.epochs:g} epoch(s), batch {args.batch_size}, max length "
        f"{MAX_LENGTH}, lr {args.learning_rate:g}, CPU; peak resident memory (VmHWM) of "
        f"each configuration's process"
    )
    print(f"{'configuration':<18}{'peak MB':>9}{'run peak':>10}{'seconds':>9}{'dev acc':>9}")
    for config, r in results.items():
        run_peak = f"{r['run_peak_mb']:.0f}" if r.get("run_peak_mb") else "-"
        print(
            f"{config:<18}{r['peak_mb']:>9.0f}{run_peak:>10}{r['seconds']:>9.0f}"
            f"{r['accuracy']:>9.3f}"
        )
    if "runner" in results:
        for ref in ("trainer-padded", "trainer-dynamic"):
            if ref in results:
                ratio = results["runner"]["peak_mb"] / results[ref]["peak_mb"]
                verdict = "meets" if ratio <= 1.0 else "ABOVE"
                print(f"runner / {ref}: {ratio:.2f}x peak memory (target <= 1.0x: {verdict})")


if __name__ == "__main__":
    main()
