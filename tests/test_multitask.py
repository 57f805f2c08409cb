"""The multi-task core and the two multi-task methods: task schedules, task sets in suites and
specs, `mtdnn` and `distill` learning on the synthetic family (where tasks share structure by
construction), the task-set cache, Δm, and what bad input gets."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
from suitekit import BUDGET, TEXT_BB, run, suite

from harness.analysis.gains import aggregate, delta_m, distillation, records_frame
from harness.errors import ConfigError
from harness.multitask import gradient_cosines, task_schedule
from harness.runner import make_accelerator
from harness.spec import RunSpec
from harness.training import DivergedError, TaskSplits, train_tasks

NEAR, MID, FAR = "synth_text_near", "synth_text_mid", "synth_text_far"
TASK_SET = ["synth_text_anchor", "synth_text_regression"]
SEEDS = [0, 1, 2]


# -- schedules ---------------------------------------------------------------------------------
def test_proportional_schedule_draws_every_batch_once_in_a_seeded_order():
    sched = task_schedule("proportional")
    order = sched({"a": 30, "b": 10}, 0, 0)
    assert Counter(order) == {"a": 30, "b": 10}
    assert order == sched({"a": 30, "b": 10}, 0, 0)  # the same on every process
    assert order != sched({"a": 30, "b": 10}, 1, 0) and order != sched({"a": 30, "b": 10}, 0, 1)


def test_temperature_and_uniform_schedules():
    batches = {"big": 900, "small": 100}
    t1 = Counter(task_schedule("temperature", 1.0)(batches, 0, 0))
    t5 = Counter(task_schedule("temperature", 5.0)(batches, 0, 0))
    uni = Counter(task_schedule("uniform")(batches, 0, 0))
    assert sum(t1.values()) == sum(uni.values()) == 1000
    # T = 1: p(small) = 0.1; T = 5: 100^0.2 / (900^0.2 + 100^0.2) = 0.3878; uniform: 0.5
    assert t1["small"] / 1000 == pytest.approx(0.1, abs=0.03)
    assert t5["small"] / 1000 == pytest.approx(0.3878, abs=0.04)
    assert uni["small"] / 1000 == pytest.approx(0.5, abs=0.04)
    sched = task_schedule("temperature", 2.0)
    assert sched(batches, 0, 0) == sched(batches, 0, 0)  # the same on every process
    assert sched(batches, 0, 0) != sched(batches, 1, 0) and sched(batches, 0, 0) != sched(
        batches, 0, 1
    )


@pytest.mark.parametrize(
    ("kind", "temperature"), [("temperature", 0.0), ("temperature", -1.0), ("random", 1.0)]
)
def test_bad_schedules_are_config_errors(kind, temperature):
    with pytest.raises(ConfigError):
        task_schedule(kind, temperature)


def test_gradient_cosines_by_hand():
    g = {
        "a": torch.tensor([1.0, 0.0]),
        "b": torch.tensor([1.0, 1.0]),
        "c": torch.tensor([-2.0, 0.0]),
    }
    cos = gradient_cosines(g)
    assert cos["a|b"] == pytest.approx(1 / np.sqrt(2)) and cos["a|c"] == pytest.approx(-1.0)
    assert cos["b|c"] == pytest.approx(-1 / np.sqrt(2))


# -- the loop with a task set --------------------------------------------------------------------
class Shared(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, features):
        return self.lin(features)


def TwoHeads():  # noqa: N802 - a MultiHeadModel with a linear encoder on features
    from harness.multitask import MultiHeadModel

    torch.manual_seed(0)
    return MultiHeadModel(Shared(), {"a": torch.nn.Linear(4, 2), "b": torch.nn.Linear(4, 2)})


def _features(n, seed, flip):
    from baselines.feature_extraction import FeatureSet

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] > 0).long()
    return FeatureSet(x, 1 - y if flip else y)


def _cards():
    from harness.taskregistry import TaskRegistry

    near = TaskRegistry().get(NEAR)
    return {n: type(near)(**{**near.__dict__, "name": n}) for n in ("a", "b")}


def test_train_tasks_learns_each_task_with_its_own_head():
    from baselines.feature_extraction import collate_features
    from harness.spec import Budget

    cards = _cards()
    tasks = [
        TaskSplits(
            cards[n],
            _features(256, 0, flip),
            _features(64, 1, flip),
            _features(64, 2, flip),
            collate_features,
        )
        for n, flip in (("a", False), ("b", True))
    ]
    budget = Budget(
        num_train_epochs=3,
        per_device_train_batch_size=16,
        learning_rate=0.05,
        group_by_length=False,
    )
    res = train_tasks(TwoHeads(), tasks, budget, make_accelerator(), seed=0)
    # opposite labels on the same inputs: only separate heads can get both right
    assert set(res.tasks) == {"a", "b"} and all(r.primary > 0.9 for r in res.tasks.values())
    assert res.steps == 3 * (256 // 16) * 2 and res.train_examples == 3 * 256 * 2
    assert "val_mean" in res.curve[-1] and "val_a_accuracy" in res.curve[-1]
    per_task = train_tasks(TwoHeads(), tasks, budget, make_accelerator(), seed=0, select="per_task")
    assert all(r.primary > 0.9 for r in per_task.tasks.values())
    for (
        name,
        r,
    ) in per_task.tasks.items():  # each task's checkpoint is its own best validation epoch
        scores = [c[f"val_{name}_accuracy"] for c in per_task.curve]
        assert r.validation_metrics["accuracy"] == pytest.approx(max(scores), abs=1e-5)
        assert scores[r.best_epoch - 1] == pytest.approx(max(scores), abs=1e-5)


def test_a_head_that_did_not_learn_in_the_multi_task_phase_is_named():
    """A task whose labels carry nothing the inputs predict (here: shuffled) is flagged, with
    its validation score against the best constant predictor; a task that learned is not."""
    from baselines.feature_extraction import FeatureSet, collate_features
    from harness.multitask import untrained_heads
    from harness.spec import Budget

    cards = _cards()

    def noise(n, seed):
        x = torch.randn(n, 4, generator=torch.Generator().manual_seed(seed))
        y = torch.randint(0, 2, (n,), generator=torch.Generator().manual_seed(seed + 100))
        return FeatureSet(x, y)

    tasks = [
        TaskSplits(
            cards["a"],
            _features(256, 0, False),
            _features(64, 1, False),
            _features(64, 2, False),
            collate_features,
        ),
        TaskSplits(cards["b"], noise(256, 0), noise(200, 1), noise(64, 2), collate_features),
    ]
    budget = Budget(
        num_train_epochs=2,
        per_device_train_batch_size=16,
        learning_rate=0.05,
        group_by_length=False,
    )
    res = train_tasks(TwoHeads(), tasks, budget, make_accelerator(), seed=0, select="per_task")
    validation = {n: r.validation_metrics for n, r in res.tasks.items()}
    flagged = untrained_heads([t.card for t in tasks], tasks, validation)
    assert set(flagged) == {"b"} and "best constant" in flagged["b"]


def test_a_head_counts_as_learned_when_it_beats_the_constant_on_any_of_its_metrics():
    """MRPC's case: 68 % of the rows are positive, so always "positive" is the best constant
    under F1 (0.81); a head at F1 0.805 but accuracy 0.735 (the constant: 0.68) has learned.
    The check used only the primary metric and flagged it. A head stuck on one answer is a
    constant and stays flagged."""
    from baselines.feature_extraction import FeatureSet, collate_features
    from harness.multitask import untrained_heads

    near = _cards()["a"]
    card = type(near)(
        **{**near.__dict__, "name": "m", "metrics": ("f1", "accuracy"), "primary_metric": "f1"}
    )
    labels = torch.tensor([1] * 136 + [0] * 64)  # 200 rows, 68 % positive
    val = FeatureSet(torch.zeros(200, 4), labels)
    split = TaskSplits(card, val, val, val, collate_features)
    learned = {"m": {"f1": 0.805, "accuracy": 0.735}}
    stuck = {"m": {"f1": 0.8095, "accuracy": 0.68}}  # always "positive"
    assert untrained_heads([card], [split], learned) == {}
    why = untrained_heads([card], [split], stuck)["m"]
    assert "f1 0.809, best constant 0.810" in why and "accuracy 0.680, best constant 0.680" in why


def test_a_diverged_run_leaves_nothing_prepared():
    from baselines.feature_extraction import collate_features

    cards = _cards()
    tasks = [
        TaskSplits(
            cards["a"],
            _features(64, 0, False),
            _features(16, 1, False),
            _features(16, 2, False),
            collate_features,
        )
    ]
    acc = make_accelerator()
    nan_loss = lambda out, batch, card: out.sum() * float("nan")  # noqa: E731
    with pytest.raises(DivergedError):
        train_tasks(
            TwoHeads(),
            tasks,
            __import__("harness.spec").spec.Budget(group_by_length=False),
            acc,
            0,
            loss=nan_loss,
        )
    assert not acc._models and not acc._optimizers and not acc._dataloaders


# -- suites and specs ------------------------------------------------------------------------------
def test_task_set_expansion_and_single_task_ids_unchanged():
    specs = suite(
        targets=[NEAR],
        task_set=["tag:synthetic-text"],
        methods={"mtdnn": {}, "finetune": {}},
        fractions=[1.0],
    )
    mt = next(s for s in specs if s.method == "mtdnn")
    ft = next(s for s in specs if s.method == "finetune")
    family = {"synth_text_anchor", NEAR, MID, FAR, "synth_text_pair", "synth_text_regression"}
    assert set(mt.task_set) == family and mt.sources == () and set(mt.task_versions) == family
    assert ft.task_set == () and ft.to_dict()["task_set"] == []
    # a single-task spec's id does not depend on the task_set field existing
    import hashlib
    import json

    d = ft.to_dict()
    for added in (
        "task_set",
        "max_train_samples",
        "max_eval_samples",
        "max_test_samples",
        "fraction_tasks",
        "max_train_samples_per_task",
    ):  # fields version 1 did not have
        del d[added]
    for key in ("budget", "source_budget"):  # nor the budget's gradient_checkpointing
        del d[key]["gradient_checkpointing"]
    del d["method_config"]["copy_layers"]  # nor finetune's copy_layers (#20)
    old = hashlib.sha256(
        json.dumps({"v": 1, **d}, sort_keys=True, default=str).encode()
    ).hexdigest()[:20]
    assert ft.id == old and RunSpec.from_dict(ft.to_dict()).id == ft.id
    assert (
        mt.budget["learning_rate"] == BUDGET["learning_rate"]
    )  # the suite's budget wins over the paper's


def test_a_variant_may_run_on_some_targets_only():
    specs = suite(
        targets=[NEAR, MID, FAR],
        fractions=[1.0],
        methods={"scratch": {}, "finetune": {"targets": [MID]}},
    )
    assert Counter(s.variant for s in specs) == {"scratch": 3, "finetune": 1}
    assert next(s for s in specs if s.variant == "finetune").target == MID
    assert "targets" not in next(s for s in specs if s.variant == "finetune").method_config


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"task_set": ["synth_text_anchor", "synth_image_anchor"]}, "mixes modalities"),
        ({"task_set": ["synth_text_anchr"]}, "unknown task"),
        ({"task_set": ["tag:no-such-tag"]}, "no task has the tag"),
        ({"task_set": []}, "trains on a task set"),
        (
            {"task_set": TASK_SET, "max_train_samples_per_task": {"synth_text_anchr": 9}},
            "unknown task",
        ),
        ({"task_set": TASK_SET, "max_train_samples_per_task": {NEAR: 0}}, "positive whole number"),
        ({"task_set": TASK_SET, "max_train_samples_per_task": [NEAR]}, "mapping task -> rows"),
        (
            {"task_set": TASK_SET, "methods": {"m": {"method": "mtdnn", "temperature": 0}}},
            "temperature must be a finite number > 0",
        ),
        (
            {"task_set": TASK_SET, "methods": {"d": {"method": "distill", "kd_temperature": -1}}},
            "kd_temperature must be a finite number > 0",
        ),
        (  # a string was split into characters: "not in the task set: ['s', 'y', ...]"
            {
                "task_set": TASK_SET,
                "methods": {"d": {"method": "distill", "distill_tasks": "synth_text_anchor"}},
            },
            "distill_tasks must be a list of task names",
        ),
        (  # a list ended in a TypeError traceback from the preparation phase
            {
                "task_set": TASK_SET,
                "methods": {"d": {"method": "distill", "teacher_settings": [1]}},
            },
            "teacher_settings must be a mapping",
        ),
        (  # .inf in YAML: accepted before, and the records then held non-JSON `Infinity`
            {
                "task_set": TASK_SET,
                "methods": {"d": {"method": "distill", "kd_temperature": float("inf")}},
            },
            "kd_temperature must be a finite number > 0",
        ),
        (
            {
                "task_set": TASK_SET,
                "methods": {
                    "m": {"method": "mtdnn", "schedule": "temperature", "temperature": float("inf")}
                },
            },
            "temperature must be a finite number > 0",
        ),
        (
            {"task_set": TASK_SET, "methods": {"d": {"method": "distill", "finetune": False}}},
            "fine-tuned student",
        ),
        (
            {"task_set": TASK_SET, "methods": {"m": {"method": "mtdnn", "schedule": "random"}}},
            "schedule must be",
        ),
    ],
)
def test_bad_multi_task_suites_fail_before_training(kw, message):
    kw = {"methods": {"mtdnn": {}}, **kw}
    with pytest.raises(Exception, match=message):
        suite(targets=[NEAR], **kw)


def test_method_budget_defaults_sit_below_the_suite_and_the_command_line():
    from harness.suites import expand, resolve_suite
    from harness.taskregistry import TaskRegistry

    base = {
        "name": "t",
        "backbones": ["bert-tiny"],
        "targets": [NEAR],
        "methods": {"feature_extraction": {}},
    }

    def lr(data, cli=None):
        (spec,) = expand(resolve_suite(data, {"budget": cli}, "t"), TaskRegistry(), "t")
        return spec.budget["learning_rate"]

    assert lr(base) == 1e-2  # the method's own default
    assert lr({**base, "budget": {"learning_rate": 3e-3}}) == 3e-3  # the suite's budget
    assert (
        lr({**base, "methods": {"feature_extraction": {"budget": {"learning_rate": 2e-2}}}}) == 2e-2
    )
    assert (
        lr(
            {**base, "methods": {"feature_extraction": {"budget": {"learning_rate": 2e-2}}}},
            {"learning_rate": 7e-4},
        )
        == 7e-4
    )


# -- the methods learn ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ladder(tmp_path_factory):
    """mtdnn and distill (2 teachers) on the task set {anchor, regression}; targets near / mid / far
    outside it at a small fraction, three seeds, against single-task fine-tuning."""
    specs = suite(
        targets=[NEAR, MID, FAR],
        task_set=TASK_SET,
        fractions=[0.05],
        seeds=SEEDS,
        methods={
            "mtdnn": {},
            "distill": {"teachers": 2},
            "finetune": {},
            "mt_only": {"method": "mtdnn", "finetune": False},
        },
        source_budget={"num_train_epochs": 3},
    )
    specs = [s for s in specs if not (s.variant == "mt_only")]
    runner, outcome, records = run(specs, tmp_path_factory.mktemp("mt"), None)
    assert not outcome.failed, [r.get("error") for r in records.values() if r["status"] != "ok"]
    return runner, specs, list(records.values())


def _mean(records, variant, target):
    return np.mean(
        [
            r["primary_score"]
            for r in records
            if r["spec"]["variant"] == variant and r["spec"]["target"] == target
        ]
    )


def test_the_task_set_is_trained_once_for_every_target_and_seed(ladder):
    runner, specs, _ = ladder
    counts = runner.cache.counts
    uses = sum(1 for s in specs if s.method in ("mtdnn", "distill"))
    # each spec asks twice (preparation phase, then its run); only the first ask trains
    assert counts["task_sets_miss"] == 2  # one mtdnn recipe, one distill recipe
    assert counts["task_sets_hit"] == 2 * uses - 2
    n = len(TASK_SET)
    assert counts["soft_targets_miss"] == n
    assert counts["soft_targets_hit"] == 2 * (uses // 2) * n - n


def test_mtdnn_beats_single_task_finetuning_and_the_gain_shrinks_with_relatedness(ladder):
    _, _, records = ladder
    gain = {t: _mean(records, "mtdnn", t) - _mean(records, "finetune", t) for t in (NEAR, MID, FAR)}
    assert gain[NEAR] > 0.1, gain
    assert gain[NEAR] > gain[MID] > gain[FAR], gain


def test_distill_student_scores_at_least_as_well_as_mtdnn(ladder):
    """Averaged over the three targets and three seeds (9 runs each), within one point."""
    _, _, records = ladder
    kd = np.mean([_mean(records, "distill", t) for t in (NEAR, MID, FAR)])
    mt = np.mean([_mean(records, "mtdnn", t) for t in (NEAR, MID, FAR)])
    assert kd >= mt - 0.01, (kd, mt)


def test_kd_loss_by_hand():
    """logits (2, 0), label 0, soft targets (0.7, 0.3). T = 1: hard = log(1 + e^-2) = 0.126928,
    soft = 0.7 · 0.126928 + 0.3 · 2.126928 = 0.726928, loss = 0.426928. T = 2: soft on logits
    (1, 0) is 0.7 · 0.313262 + 0.3 · 1.313262 = 0.613262, × T² = 2.453048, loss = 1.289988."""
    from baselines.distill import kd_loss
    from harness.taskregistry import TaskRegistry

    card = TaskRegistry().get(NEAR)
    batch = {"labels": torch.tensor([0]), "soft_targets": torch.tensor([[0.7, 0.3]])}
    out = torch.tensor([[2.0, 0.0]])
    assert kd_loss(1.0)(out, batch, card).item() == pytest.approx(0.426928, abs=1e-5)
    assert kd_loss(2.0)(out, batch, card).item() == pytest.approx(1.289988, abs=1e-5)
    assert kd_loss(1.0)(out, {"labels": torch.tensor([0])}, card).item() == pytest.approx(
        0.126928, abs=1e-5
    )
    reg = TaskRegistry().get(
        "synth_text_regression"
    )  # regression: mean of MSE to label and to teachers
    rb = {"labels": torch.tensor([1.0]), "soft_targets": torch.tensor([[2.0]])}
    assert kd_loss(1.0)(torch.tensor([3.0]), rb, reg).item() == pytest.approx(0.5 * 4.0 + 0.5 * 1.0)


def test_records_keep_multitask_scores_teachers_and_gradient_cosines(ladder):
    _, _, records = ladder
    mt = next(r for r in records if r["spec"]["method"] == "mtdnn")
    tasks = mt["extra"]["multitask"]["tasks"]
    assert set(tasks) == set(TASK_SET) and tasks["synth_text_anchor"]["primary"] > 0.8
    cos = mt["extra"]["multitask"]["gradient_cosine"]
    assert cos and set(cos[0]["cosine"]) == {"synth_text_anchor|synth_text_regression"}
    kd = next(r for r in records if r["spec"]["method"] == "distill")
    teachers = kd["extra"]["teachers"]["synth_text_anchor"]
    assert len(teachers["teacher_scores"]) == 2 and teachers["ensemble"] > 0.8
    table = distillation(records)
    assert set(table["task"]) == set(TASK_SET)
    dm = delta_m(records_frame(records))
    assert (
        set(dm["variant"]) == {"mtdnn", "distill"}
        and (dm["seeds"] == 3).all()
        and (dm["tasks"] == 3).all()
    )
    agg = aggregate(records_frame(records))
    assert set(agg[agg["variant"] == "mtdnn"]["n"]) == {3}


# -- suites, caps, failures, memory ----------------------------------------------------------------
def test_glue_mtdnn_suite_expands(monkeypatch):
    import harness.suites as suites

    monkeypatch.setattr(
        suites, "resolve_modality", lambda bb: "text"
    )  # the Hub is not reachable in tests
    data, where = suites.load_suite("glue-mtdnn")
    specs = suites.expand(
        suites.resolve_suite(data, {}, where),
        __import__("harness.taskregistry").taskregistry.TaskRegistry(),
    )
    by_method = Counter(s.method for s in specs)
    assert by_method == {
        "finetune": 27,
        "mtdnn": 54,
        "distill": 27,
    }  # 9 tasks x 3 seeds (mtdnn: two variants)
    mt = next(s for s in specs if s.method == "mtdnn")
    assert (
        len(mt.task_set) == 9
        and mt.source_budget["learning_rate"] == 5e-5
        and mt.source_budget["num_train_epochs"] == 5
    )
    ft = next(s for s in specs if s.method == "finetune")
    assert ft.budget["learning_rate"] == 2e-5


@pytest.mark.realdata
def test_glue_mtdnn_local_suite_expands_on_the_local_data(tmp_path):
    import os
    import subprocess
    import sys

    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "--suite",
            "glue-mtdnn-local",
            "--data_dir",
            os.environ["TRANSFERBENCH_DATA_DIR"],
            "--dry_run",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    # 5 tasks, 4 methods, 3 seeds
    assert "60 run(s)" in res.stdout and "all-MiniLM-L6-v2" in res.stdout
    assert "wnli" not in res.stdout


def test_glue_mtdnn_local_trains_cola_on_2400_rows_and_the_rest_on_800():
    from harness.suites import expand, load_suite, resolve_suite
    from harness.taskregistry import TaskRegistry

    data, where = load_suite("glue-mtdnn-local")
    specs = expand(resolve_suite(data, {}, where), TaskRegistry(), where)
    assert len(specs) == 60
    # at 800 rows CoLA's head stayed at the constant in 3 of 6 multi-task phases
    assert {s.train_cap("cola") for s in specs} == {2400}
    assert {s.train_cap(t) for s in specs for t in ("sst2", "mrpc", "stsb", "rte")} == {800}


def test_nli_multitask_suite_expands_with_its_targets_cut_in_the_task_set():
    from harness.suites import expand, load_suite, resolve_suite
    from harness.taskregistry import TaskRegistry

    data, where = load_suite("nli-multitask")
    specs = expand(resolve_suite(data, {}, where), TaskRegistry(), where)
    assert len(specs) == 48
    multi = [s for s in specs if s.task_set]
    assert multi and all(s.fraction_tasks == ("cb", "rte") for s in multi)
    assert {s.max_train_samples_per_task["snli_dev_test"] for s in specs} == {600}
    assert {s.max_train_samples_per_task["mrpc"] for s in specs} == {600}  # MRPC's head learns
    assert {s.fraction for s in specs} == {0.5, 1.0}
    distill = {json.dumps(s.method_config, sort_keys=True) for s in specs if s.method == "distill"}
    assert all(json.loads(c)["teacher_sources"] == ["snli_dev_test"] for c in distill)


def test_max_train_and_eval_samples_cap_training_and_selection_not_scoring(tmp_path, monkeypatch):
    from harness.context import RunContext

    seen = {}
    real_train = RunContext.train

    def train(self, model, param_groups=None, desc=None, **hooks):
        seen.update({role: len(self.split(role)) for role in ("train", "validation", "test")})
        return real_train(self, model, param_groups, desc, **hooks)

    monkeypatch.setattr(RunContext, "train", train)
    specs = suite(
        fractions=[1.0],
        max_train_samples=60,
        max_eval_samples=30,
        budget={**BUDGET, "num_train_epochs": 1},
    )
    _, outcome, records = run(specs, tmp_path, None)
    (rec,) = records.values()
    assert seen == {"train": 60, "validation": 30, "test": 500} and rec["comparable"] is True
    assert specs[0].id != suite(fractions=[1.0], budget={**BUDGET, "num_train_epochs": 1})[0].id
    # max_test_samples caps the scored split too: one fixed, stratified sample for every seed
    capped = suite(
        fractions=[1.0],
        seeds=[0, 1],
        max_train_samples=60,
        max_test_samples=100,
        budget={**BUDGET, "num_train_epochs": 1},
    )
    test_rows = []
    monkeypatch.setattr(
        RunContext,
        "train",
        lambda self, *a, **k: (
            test_rows.append(self.splits.rows("test")),
            real_train(self, *a, **k),
        )[1],
    )
    _, _, capped_records = run(capped, tmp_path / "capped", None)
    assert len(test_rows) == 2 and test_rows[0] == test_rows[1] and len(test_rows[0]) == 100
    assert {r["spec"]["max_test_samples"] for r in capped_records.values()} == {100}
    assert all(r["comparable"] for r in capped_records.values())


def test_capped_splits_are_encoded_only_where_used(tmp_path, monkeypatch):
    from harness.encoders import Encoders

    encoded = []
    real = Encoders._compute
    monkeypatch.setattr(
        Encoders,
        "_compute",
        lambda self, enc, ds: (encoded.append(len(ds)), real(self, enc, ds))[1],
    )
    specs = suite(
        fractions=[1.0],
        methods={"feature_extraction": {}},
        max_train_samples=60,
        max_eval_samples=30,
        max_test_samples=40,
        budget={**BUDGET, "num_train_epochs": 1},
    )
    _, outcome, _ = run(specs, tmp_path / "out", tmp_path / "cache")
    assert not outcome.failed and sorted(encoded) == [30, 40, 60]  # not the whole 500-row splits
    encoded.clear()
    _, outcome, _ = run(specs, tmp_path / "again", tmp_path / "cache")
    assert encoded == []  # the second run reads the cached features


def test_a_suite_with_failed_runs_exits_non_zero_with_a_summary(tmp_path, run_main, monkeypatch):
    cfg = tmp_path / "suite.yaml"
    cfg.write_text(
        "name: f\nbackbones: [{name: bert-tiny, max_length: 32, vocab_size: 1000}]\ntargets: [synth_text_near]\n"
        "methods: {scratch: {}, broken: {method: finetune, freeze_first_n: 99}}\nfractions: [0.2]\n"
        "budget: {num_train_epochs: 1}\nlimit: 32\n"
    )
    monkeypatch.setenv("TRANSFERBENCH_CACHE", str(tmp_path / "cache"))
    args = ["run", "--config", cfg, "--output_dir", tmp_path / "out"]
    first = run_main(*args)  # in this process: main catches what a user can get wrong
    assert first.returncode == 1 and "1 run(s) of this suite FAILED" in first.stdout
    assert "freeze_first_n=99" in first.stdout and "Traceback" not in first.stderr
    again = run_main(*args)  # nothing runs, still failed
    assert again.returncode == 1 and "recorded earlier" in again.stdout


def test_peak_memory_is_the_runs_own():
    from harness.runner import peak_memory_mb, reset_peak_memory

    big = np.ones(60_000_000)  # 480 MB, then freed
    before = peak_memory_mb(torch.device("cpu"), run_window=True)["peak_rss_mb"]
    del big
    assert reset_peak_memory(torch.device("cpu"))
    after = peak_memory_mb(torch.device("cpu"), run_window=True)
    assert "scope" not in after and after["peak_rss_mb"] < before - 300


def test_a_failed_teacher_fails_the_distill_runs_with_its_reason(tmp_path, monkeypatch):
    from baselines.finetune import Finetune
    from harness.training import DivergedError

    real_run = Finetune.run

    def flaky(self, ctx):
        if not ctx.spec.task_set and ctx.spec.seed == 1:  # the second teacher
            raise DivergedError("loss is nan at step 2")
        return real_run(self, ctx)

    monkeypatch.setattr(Finetune, "run", flaky)
    specs = suite(
        targets=[NEAR],
        task_set=TASK_SET,
        methods={"distill": {"teachers": 2}, "finetune": {}},
        limit=64,
        budget={**BUDGET, "num_train_epochs": 1},
        source_budget={"num_train_epochs": 1},
    )
    _, outcome, records = run(specs, tmp_path / "out", tmp_path / "cache")
    by_method = {r["spec"]["method"]: r for r in records.values()}
    assert by_method["finetune"]["status"] == "ok"
    err = by_method["distill"]["error"]
    assert by_method["distill"]["status"] == "failed"
    assert "teacher 2/2 of 'synth_text_anchor'" in err and "loss is nan at step 2" in err, err


def test_distill_teachers_start_from_the_teacher_sources_trained_once(tmp_path):
    """`teacher_sources`: the teachers start from a source-trained encoder, the same cached one
    the suite's sequential-transfer runs start from (nli-multitask's teachers, trained from the
    base encoder on 62-300 rows, stayed below the majority floor on RTE)."""
    far = "synth_text_far"
    specs = suite(
        targets=[NEAR],
        task_set=TASK_SET,
        sources=["none", far],
        methods={"distill": {"teachers": 1, "teacher_sources": [far]}, "finetune": {}},
        limit=64,
        budget={**BUDGET, "num_train_epochs": 1},
        source_budget={"num_train_epochs": 1},
    )
    runner, outcome, records = run(specs, tmp_path / "out", tmp_path / "cache")
    assert all(r["status"] == "ok" for r in records.values())
    (kd,) = [r for r in records.values() if r["spec"]["method"] == "distill"]
    for task in TASK_SET:
        assert kd["extra"]["teachers"][task]["teacher_sources"] == [far]
    assert runner.cache.counts["sources_miss"] == 1  # one source for teachers and finetune


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"teacher_sources": ["synth_text_far"], "teacher_method": "scratch"},
            "starts from no source",
        ),
        ({"teacher_sources": ["no_such_task"]}, "no_such_task"),
    ],
)
def test_bad_teacher_sources_fail_before_any_teacher_trains(tmp_path, config, message):
    specs = suite(
        targets=[NEAR],
        task_set=TASK_SET,
        methods={"distill": {"teachers": 1, **config}},
        limit=32,
        budget={**BUDGET, "num_train_epochs": 1},
        source_budget={"num_train_epochs": 1},
    )
    _, _, records = run(specs, tmp_path / "out", tmp_path / "cache")
    (record,) = records.values()
    assert record["status"] == "failed" and message in record["error"], record.get("error")
    with pytest.raises(ConfigError, match="teacher_sources must be a list"):
        suite(targets=[NEAR], task_set=TASK_SET, methods={"distill": {"teacher_sources": "x"}})


def test_a_task_set_task_without_training_rows_is_a_recorded_failure(tmp_path):
    import yaml

    from harness.suites import expand, resolve_suite
    from harness.taskregistry import TaskRegistry

    card = yaml.safe_load((TaskRegistry().get("synth_text_mid").path).read_text())
    card["name"] = "empty_train"
    card["data"]["generator"]["kwargs"]["n_train"] = 0
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "empty_train.yaml").write_text(yaml.safe_dump(card))
    registry = TaskRegistry([tmp_path / "cards"])
    data = {
        "name": "t",
        "backbones": [TEXT_BB],
        "targets": [NEAR],
        "sources": ["none"],
        "task_set": ["synth_text_anchor", "empty_train"],
        "methods": {"mtdnn": {}},
        "fractions": [0.5],
        "seeds": [0],
        "budget": BUDGET,
        "source_budget": {"num_train_epochs": 1},
    }
    specs = expand(resolve_suite(data, {}, "test"), registry, "test")
    _, outcome, records = run(specs, tmp_path / "out", tmp_path / "cache", registry=registry)
    (rec,) = records.values()
    assert rec["status"] == "failed" and "empty_train" in rec["error"], rec["error"]
    assert "training rows" in rec["error"] or "empty" in rec["error"], rec["error"]


def test_a_target_in_the_task_set_gives_the_phase_only_the_rows_of_its_run(tmp_path, monkeypatch):
    """A multi-task run never sees more of its target than a single-task run at the same
    fraction and seed: the target's rows in the multi-task phase (and its teachers') are the
    run's rows, at any fraction and under a cap whose sample follows the seed; other tasks of
    the set keep their capped sample (by source seed), and a per-task cap sizes one task."""
    from harness.context import RunContext
    from harness.multitask import train_tasks as real_train_tasks

    phase_rows: list[dict[str, int]] = []
    finetune_rows: dict[tuple[float, int], list[int]] = {}

    def spy(model, tasks, *a, **k):
        if len(tasks) > 1:
            phase_rows.append({t.name: len(t.train) for t in tasks})
        return real_train_tasks(model, tasks, *a, **k)

    real_train = RunContext.train

    def train(self, model, *a, **k):
        if self.spec.method == "finetune":
            finetune_rows[(self.spec.fraction, self.spec.seed)] = list(self.train_indices)
        return real_train(self, model, *a, **k)

    monkeypatch.setattr("harness.multitask.train_tasks", spy)
    monkeypatch.setattr(RunContext, "train", train)
    specs = suite(
        targets=[NEAR],
        task_set=["synth_text_anchor", NEAR],
        fractions=[0.2, 1.0],
        seeds=[0, 1],
        methods={"finetune": {}, "mtdnn": {"grad_cosine_every": 0}},
        max_train_samples=150,
        max_train_samples_per_task={"synth_text_anchor": 90},
        budget={**BUDGET, "num_train_epochs": 1},
    )
    multi = [s for s in specs if s.method == "mtdnn"]
    assert all(s.fraction_tasks == (NEAR,) for s in multi)
    assert all(s.fraction_tasks == () for s in specs if s.method == "finetune")
    runner = None
    for spec in multi:
        runner, outcome, _ = run([spec], tmp_path / spec.id, tmp_path / "cache")
        assert not outcome.failed
    _, outcome, _ = run(
        [s for s in specs if s.method == "finetune"], tmp_path / "ft", tmp_path / "cache"
    )
    assert not outcome.failed
    # one phase per (fraction, seed); the target gives the rows of its finetune run at that
    # fraction and seed, the other task its own cap
    assert len(phase_rows) == 4 and {p["synth_text_anchor"] for p in phase_rows} == {90}
    assert sorted(p[NEAR] for p in phase_rows) == sorted(len(v) for v in finetune_rows.values())
    contexts = {(s.fraction, s.seed): runner.context(s) for s in multi}
    assert {k: c.splits.task_train_rows(NEAR) for k, c in contexts.items()} == finetune_rows
    assert finetune_rows[(1.0, 0)] != finetune_rows[(1.0, 1)]  # the cap's sample follows the seed
    assert len({str(c.task_set_key({"method": "mtdnn"})) for c in contexts.values()}) == 4
    # a teacher (distill) of the target trains on the same rows, whatever its own seed
    ctx = contexts[(0.2, 1)]
    teacher = ctx.for_task(NEAR, seed=5, method="finetune", method_config={})
    assert teacher.train_indices == finetune_rows[(0.2, 1)]
    assert (
        ctx.for_task("synth_text_anchor", seed=5, method="finetune", method_config={}).train_indices
        == ctx.splits.task_train_rows("synth_text_anchor")
        and len(ctx.splits.task_train_rows("synth_text_anchor")) == 90
    )


def test_the_multi_task_adamw_is_the_fused_one_on_the_cpu():
    """The multi-task phase and its fine-tuning stage used torch's default AdamW, whose
    per-parameter loop cost 14 % of a MiniLM phase on the CPU; they now get the single-task
    loop's fused AdamW (the same update), Adamax stays as it was."""
    from harness.multitask import make_optimizer
    from harness.spec import Budget

    budget = Budget(learning_rate=1e-3, weight_decay=0.01)
    params = [torch.nn.Parameter(torch.ones(3))]
    opt = make_optimizer("adamw")([{"params": params}], budget)
    assert isinstance(opt, torch.optim.AdamW)
    assert opt.defaults["fused"] is True
    assert opt.defaults["lr"] == 1e-3 and opt.defaults["weight_decay"] == 0.01
    slow = torch.optim.AdamW([p2 := torch.nn.Parameter(torch.ones(3))], lr=1e-3, weight_decay=0.01)
    for o, p in ((opt, params[0]), (slow, p2)):
        p.grad = torch.tensor([0.5, -1.0, 2.0])
        o.step()
    assert torch.allclose(params[0], p2, atol=1e-7)
    adamax = make_optimizer("adamax")([{"params": [torch.nn.Parameter(torch.ones(2))]}], budget)
    assert isinstance(adamax, torch.optim.Adamax)
