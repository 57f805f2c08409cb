"""The `transformers.Trainer` side of `bench_runner_vs_trainer.py`: the model wrapper the
Trainer expects, its `TrainingArguments` (the runner's budget) and a run timed over the same
region the runner times (`on_epoch_begin` to `on_epoch_end`)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from runner_vs_trainer_report import Counted


class ForTrainer(nn.Module):
    """An `EncoderWithHead` returning {"loss", "logits"}, as `Trainer` expects."""

    def __init__(self, model: nn.Module, loss_fn: nn.Module):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, input_ids, attention_mask=None, token_type_ids=None, labels=None):
        inputs = {"input_ids": input_ids}
        if attention_mask is not None:
            inputs["attention_mask"] = attention_mask
        if token_type_ids is not None:
            inputs["token_type_ids"] = token_type_ids
        logits = self.model(**inputs)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = self.loss_fn(logits.float(), labels)
        return out


def trainer_args(args, workdir: Path, grouped: bool, cuda: bool, steps: int):
    from transformers import TrainingArguments

    fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    extra: dict[str, Any] = {}
    if grouped:  # transformers 5 renamed group_by_length to train_sampling_strategy
        if "group_by_length" in fields:
            extra["group_by_length"] = True
        else:
            extra["train_sampling_strategy"] = "group_by_length"
    warmup = "warmup_ratio" if "warmup_ratio" in fields else "warmup_steps"  # <1: a ratio in v5
    return TrainingArguments(
        output_dir=str(workdir / "trainer"),
        per_device_train_batch_size=args.batch_size,
        max_steps=steps,
        report_to=[],
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        use_cpu=not cuda,
        dataloader_num_workers=0,
        seed=args.seed,
        # the runner's budget, so both train the same way (none of these changes the speed)
        learning_rate=args.learning_rate,
        weight_decay=0.01,
        max_grad_norm=1.0,
        lr_scheduler_type="linear",
        **{warmup: 0.1},
        disable_tqdm=True,
        **extra,
    )


def run_trainer(model, train_set, collator: Counted, targs, tokenizer) -> tuple[float, int]:
    from transformers import PrinterCallback, Trainer, TrainerCallback

    class EpochTimer(TrainerCallback):
        seconds = 0.0
        _t0 = 0.0

        def on_epoch_begin(self, *a, **k):
            _sync()
            self._t0 = time.perf_counter()

        def on_epoch_end(self, *a, **k):
            _sync()  # the runner's per-step finiteness check already waits for the device
            self.seconds += time.perf_counter() - self._t0

    timer = EpochTimer()
    trainer = Trainer(
        model=model,
        args=targs,
        train_dataset=train_set,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[timer],
    )
    trainer.remove_callback(PrinterCallback)  # no end-of-training log line on stdout
    collator.reset()
    trainer.train()
    steps = trainer.state.global_step
    del trainer
    return timer.seconds, steps


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
