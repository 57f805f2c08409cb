"""Run by tests/test_multiprocess.py, once as `python tests/mp_probe.py OUT` and once under
`accelerate launch --multi_gpu --num_processes 2`: each process writes OUT/rank<r>.json with
what it saw, so the test can compare the two accountings.

- the training rows each process drew, per epoch (shuffled and length-grouped samplers);
- optimizer steps, counted examples and the learning rate after every step;
- the predictions and references gathered for the scored split (a model that predicts each
  row's own id, so a dropped or duplicated row shows);
- how many run records each process wrote in a real (tiny) suite.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

from suitekit import BUDGET, suite  # noqa: E402

import harness.records as records  # noqa: E402
import harness.runner as runner_mod  # noqa: E402
import harness.training as training  # noqa: E402
from harness.spec import Budget  # noqa: E402
from harness.taskregistry import TaskRegistry  # noqa: E402

N_TRAIN, N_TEST = 128, 37  # 37: the last evaluation batch is short and padded on 2 processes
N_UNEVEN = 100  # 100 = 3 x 32 + 4: the last training batch is short (1 process) or padded (2)
PER_ROUND = 32  # examples per optimizer step over all processes


class Rows(torch.utils.data.Dataset):
    def __init__(self, n: int, split: str):
        self.n, self.split = n, split

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {
            "row": i,
            "split": self.split,
            "features": torch.tensor([float(i), 1.0]),
            "labels": torch.tensor(float(i)),
        }


class PredictsRowId(nn.Module):
    """Output = the row id (feature 0); a trainable weight that never changes the output."""

    def __init__(self):
        super().__init__()
        self.w = nn.Linear(2, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features[:, 0] + 0.0 * self.w(features).squeeze(-1)


class TwoHeadsRowId(PredictsRowId):
    takes_task = True

    def forward(self, task: str, features: torch.Tensor) -> torch.Tensor:
        return super().forward(features)


def main(out: Path) -> None:
    acc = runner_mod.make_accelerator()
    rank, procs = acc.process_index, acc.num_processes
    card = TaskRegistry().get("synth_text_regression")  # regression: predictions are values
    seen: dict = {"rank": rank, "procs": procs}

    drawn: list[int] = []

    def collate(rows: list[dict]) -> dict:
        drawn.extend(r["row"] for r in rows if r["split"] == "train")
        return {
            "features": torch.stack([r["features"] for r in rows]),
            "labels": torch.stack([r["labels"] for r in rows]),
        }

    gathered: list = []
    real_metrics = training.compute_metrics

    def compute_metrics(c, preds, refs):
        gathered.append({"preds": list(preds), "refs": list(refs)})
        return real_metrics(c, preds, refs)

    training.compute_metrics = compute_metrics
    configs = (
        ("shuffled", N_TRAIN, None),
        ("length_grouped", N_TRAIN, [i % 7 for i in range(N_TRAIN)]),
        ("uneven", N_UNEVEN, None),
    )
    for name, n_train, lengths in configs:
        drawn.clear()
        gathered.clear()
        budget = Budget(
            num_train_epochs=2,
            per_device_train_batch_size=PER_ROUND // procs,
            learning_rate=0.01,
            warmup_ratio=0.25,
            per_device_eval_batch_size=8,
            group_by_length=lengths is not None,
        )
        res = training.train_model(
            PredictsRowId(),
            card,
            Rows(n_train, "train"),
            Rows(N_TEST, "val"),
            Rows(N_TEST, "test"),
            collate,
            budget,
            acc,
            seed=0,
            lengths=lengths,
        )
        # the loader draws both epochs' rows in order; split them per epoch
        per_epoch = len(drawn) // 2
        seen[name] = {
            "epochs": [drawn[:per_epoch], drawn[per_epoch:]],
            "steps": res.steps,
            "examples": res.train_examples,
            "learning_rates": res.learning_rates,
            "scored": gathered[-1],
        }

    # a task set of two: the schedule each process drew
    from harness.multitask import task_schedule

    drawn_tasks: list[list[str]] = []
    sampled = task_schedule("temperature", 2.0)

    def recording(batches, epoch, seed):
        order = sampled(batches, epoch, seed)
        drawn_tasks.append(order)
        return order

    two = [
        training.TaskSplits(
            card, Rows(N_TRAIN, "train"), Rows(N_TEST, "val"), Rows(N_TEST, "test"), collate
        ),
        training.TaskSplits(
            TaskRegistry().get("synth_text_regression"),
            Rows(N_UNEVEN, "train"),
            Rows(N_TEST, "val"),
            Rows(N_TEST, "test"),
            collate,
        ),
    ]
    two[1].card = type(card)(**{**card.__dict__, "name": "regression_copy"})
    budget = Budget(
        num_train_epochs=2,
        per_device_train_batch_size=PER_ROUND // procs,
        learning_rate=0.01,
        group_by_length=False,
    )
    res = training.train_tasks(TwoHeadsRowId(), two, budget, acc, seed=0, schedule=recording)
    seen["task_set"] = {
        "orders": drawn_tasks[1:],
        "steps": res.steps,
        "examples": res.train_examples,
    }

    writes: list[str] = []
    real_write = records.write_record

    def counting_write(record, output_dir):
        writes.append(record["run_id"])
        return real_write(record, output_dir)

    runner_mod.write_record = counting_write
    specs = suite(methods={"scratch": {}}, limit=48, budget={**BUDGET, "num_train_epochs": 1})
    specs += suite(
        methods={"mtdnn": {}},
        task_set=["synth_text_anchor", "synth_text_pair"],
        limit=48,
        budget={**BUDGET, "num_train_epochs": 1},
        source_budget={"num_train_epochs": 1},
    )
    runner = runner_mod.SuiteRunner(out / "suite", accelerator=acc)
    runner.run(specs)
    seen["writes"] = writes
    (out / f"rank{rank}.json").write_text(json.dumps(seen))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
