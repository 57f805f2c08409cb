"""Yosinski-style layer transfer and layer-wise learning-rate decay do what they say: weights
are read back before and after training and compared with the source encoder's, and the
optimizer's learning rate per layer group is read back from the optimizer itself."""

from __future__ import annotations

import pytest
import torch
from suitekit import BUDGET, run, suite

from harness.context import RunContext

SOURCE = "synth_text_anchor"
LR = 1e-3


@pytest.fixture(scope="module")
def captured(tmp_path_factory):
    """Run finetune variants from one source; keep each encoder's weights as the method handed
    it to training (after copy / re-init) and after training, the source's, and the optimizer."""
    out = tmp_path_factory.mktemp("yosinski")
    seen: dict[str, dict] = {}
    optimizers: list[torch.optim.Optimizer] = []
    orig_train, orig_adamw = RunContext.train, torch.optim.AdamW

    class RecordingAdamW(orig_adamw):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            optimizers.append(self)

    def train(self, model, param_groups=None, desc=None):
        enc = model.encoder
        groups = [
            [n for n, p in enc.named_parameters() if any(p is q for q in g.parameters())]
            for g in enc.layer_groups()
        ]
        before = {k: v.detach().clone() for k, v in enc.named_parameters()}
        n_opt = len(optimizers)
        result = orig_train(self, model, param_groups, desc)
        source = {
            f"model.{k}" if not k.startswith("model.") else k: v
            for k, v in self.encoders.source()[0].items()
        }
        seen[self.spec.variant] = {
            "groups": groups,
            "before": before,
            "source": source,
            "after": {k: v.detach().clone() for k, v in enc.named_parameters()},
            "optimizer": optimizers[n_opt],
            "model": model,
        }
        return result

    mp = pytest.MonkeyPatch()
    mp.setattr(RunContext, "train", train)
    mp.setattr(torch.optim, "AdamW", RecordingAdamW)
    methods = {
        "AnB": {"method": "finetune", "copy_first_n": 2, "finetune_copied": False},
        "AnB+": {"method": "finetune", "copy_first_n": 2},
        "frozen": {"method": "finetune", "freeze_first_n": 2},
        "llrd": {"method": "finetune", "layer_lr_decay": 0.5, "head_lr_multiplier": 1.0},
    }
    specs = suite(
        sources=[SOURCE],
        methods=methods,
        fractions=[0.2],
        limit=96,
        budget={**BUDGET, "num_train_epochs": 1, "learning_rate": LR},
        source_budget={"num_train_epochs": 1},
    )
    try:
        _, outcome, _ = run(specs, out, tmp_path_factory.mktemp("cache"))
    finally:
        mp.undo()
    assert not outcome.failed
    return seen


def _same(a: dict, b: dict, names: list[str]) -> bool:
    return all(torch.equal(a[n], b[n]) for n in names)


def _all_differ(a: dict, b: dict, names: list[str]) -> bool:
    return all(not torch.equal(a[n], b[n]) for n in names)


def test_copy_first_n_keeps_the_first_n_and_reinitialises_the_rest(captured):
    for variant in ("AnB", "AnB+"):
        c = captured[variant]
        copied, reinit = sum(c["groups"][:2], []), sum(c["groups"][2:], [])
        assert len(c["groups"]) == 3 and copied and reinit  # bert-tiny: embeddings + 2 blocks
        assert _same(c["before"], c["source"], copied)
        # every re-initialised tensor differs from the source (trained weights, norms included)
        assert _all_differ(c["before"], c["source"], reinit)


def test_anb_copied_layers_are_bit_identical_after_training(captured):
    c = captured["AnB"]
    copied, reinit = sum(c["groups"][:2], []), sum(c["groups"][2:], [])
    assert _same(c["after"], c["source"], copied)
    assert _all_differ(c["after"], c["before"], [n for n in reinit if "weight" in n])


def test_anb_plus_fine_tunes_the_copied_layers(captured):
    c = captured["AnB+"]
    copied = sum(c["groups"][:2], [])
    weights = [n for n in copied if n.endswith("weight") and "embeddings" not in n]
    assert weights and _all_differ(c["after"], c["source"], weights)


def test_freeze_first_n_keeps_the_first_n_and_trains_the_rest(captured):
    c = captured["frozen"]
    frozen, rest = sum(c["groups"][:2], []), sum(c["groups"][2:], [])
    assert _same(c["before"], c["source"], frozen + rest)  # nothing re-initialised
    assert _same(c["after"], c["source"], frozen)
    assert _all_differ(c["after"], c["source"], [n for n in rest if n.endswith("weight")])


def test_layer_lr_decay_read_back_from_the_optimizer(captured):
    """The head gets the base rate; each layer group below it one more factor of the decay:
    top block lr·d, the block under it lr·d², the embeddings lr·d³ (bert-tiny, d = 0.5)."""
    c = captured["llrd"]
    opt, model = c["optimizer"], c["model"]
    rate = {}
    for group in opt.param_groups:
        for p in group["params"]:
            rate[id(p)] = group["initial_lr"]
    head = {rate[id(p)] for p in model.head.parameters()}
    assert sorted(head) == [pytest.approx(LR)]
    layers = model.encoder.layer_groups()
    expected = [LR * 0.5**3, LR * 0.5**2, LR * 0.5]  # embeddings, block 0, block 1 (top)
    for layer, want in zip(layers, expected):
        assert sorted({rate[id(p)] for p in layer.parameters()}) == [pytest.approx(want)]
    # every trainable parameter is in the optimizer exactly once
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(rate) == len(trainable) == sum(len(g["params"]) for g in opt.param_groups)
