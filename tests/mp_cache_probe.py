"""Run by tests/test_multiprocess_cache.py, once as `python tests/mp_cache_probe.py OUT` and
once under `accelerate launch --multi_gpu --num_processes 2`, each on an empty cache
($TRANSFERBENCH_CACHE): a tiny suite that fills every kind of cache entry (a tokenizer, encoded
splits, a source-trained encoder, frozen-encoder features, a multi-task model, teachers' soft
targets and a distilled student) runs, and each process writes OUT/rank<r>.json with the runs'
scores and its cache counts.

The two runs are made to compute the same thing: 32 training rows a step in all (32 on one
process, 16 on each of two), shuffled batches (not length-grouped, whose groups follow the
per-process batch size), 128 rows a split (a whole number of steps) and no dropout (whose
masks would differ with the number of processes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from suitekit import TEXT_BB, suite  # noqa: E402

import harness.backbones as backbones  # noqa: E402
import harness.encoders as encoders  # noqa: E402
import harness.runner as runner_mod  # noqa: E402
from harness.records import find_records, read_record  # noqa: E402

PER_ROUND = 32
TASK_SET = ["synth_text_anchor", "synth_text_pair"]
NO_DROPOUT = {"head_dropout": 0.0}


def _no_dropout(make):
    def config(*args, **kwargs):
        cfg = make(*args, **kwargs)
        cfg.hidden_dropout_prob = cfg.attention_probs_dropout_prob = 0.0
        return cfg

    return config


def _no_head_dropout(build):
    def head(card, in_dim, hidden=0, dropout=0.0):
        return build(card, in_dim, hidden, 0.0)

    return head


def specs(procs: int) -> list:
    per_device = PER_ROUND // procs
    budget = {
        "num_train_epochs": 3,
        "per_device_train_batch_size": per_device,
        "learning_rate": 5e-3,
        "group_by_length": False,
    }
    common = {
        "backbones": [TEXT_BB],
        "limit": 128,
        "budget": budget,
        "source_budget": {"num_train_epochs": 2, "per_device_train_batch_size": per_device},
    }
    return [
        *suite(
            methods={"finetune": NO_DROPOUT, "feature_extraction": NO_DROPOUT},
            sources=["synth_text_far"],
            **common,
        ),
        *suite(
            methods={"mtdnn": {**NO_DROPOUT, "optimizer": "adamw"}}, task_set=TASK_SET, **common
        ),
        *suite(
            methods={
                "distill": {
                    **NO_DROPOUT,
                    "optimizer": "adamw",
                    "teachers": 1,
                    "teacher_settings": NO_DROPOUT,
                }
            },
            task_set=TASK_SET,
            **common,
        ),
    ]


def shared_scores(record: dict) -> dict:
    """The scores of what the run started from: its source training, the multi-task model's
    tasks, the teachers."""
    extra = record.get("extra") or {}
    multitask = (extra.get("multitask") or {}).get("tasks") or {}
    return {
        "sources": [h["score"] for h in record.get("source_history") or []],
        "multitask": {t: v["primary"] for t, v in multitask.items()},
        "teachers": {t: v["teacher_scores"] for t, v in (extra.get("teachers") or {}).items()},
    }


def main(out: Path) -> None:
    backbones._bert = _no_dropout(backbones._bert)  # the presets look it up when they build
    encoders.build_head = _no_head_dropout(encoders.build_head)  # the source's head
    # tracked: a run's trackers end with the run, the process group the next run needs does not
    logs = out / "suite" / "logs"
    acc = runner_mod.make_accelerator(report_to="tensorboard", project_dir=logs)
    runner = runner_mod.SuiteRunner(out / "suite", accelerator=acc, report_to="tensorboard")
    outcome = runner.run(specs(acc.num_processes))
    acc.wait_for_everyone()  # the main process has written every record
    scores = {}
    for path in find_records(out / "suite"):
        r = read_record(path)
        s = r["spec"]
        what = f"{s['method']} | {'+'.join(s['sources']) or 'none'} | {'+'.join(s['task_set'])} -> {s['target']}"
        scores[what] = {
            "status": r["status"],
            "error": r.get("error"),
            "score": r.get("primary_score"),
            "shared": shared_scores(r),
        }
    seen = {
        "rank": acc.process_index,
        "procs": acc.num_processes,
        "scores": scores,
        "counts": dict(outcome.cache_counts),
        "failed": outcome.failed,
    }
    (out / f"rank{acc.process_index}.json").write_text(json.dumps(seen, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
