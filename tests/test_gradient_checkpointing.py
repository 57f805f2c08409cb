"""Gradient checkpointing (a budget field, `--gradient_checkpointing`): the same outputs and
gradients with less kept for the backward pass, on a `transformers` preset and on a registered
module; added to the budget without changing the ids of specs made before it existed."""

from __future__ import annotations

import copy

import pytest
import torch

from harness.backbones import BackboneSpec, build_model
from harness.spec import Budget, RunSpec, canonical_spec


def _grads(encoder, inputs):
    encoder.train()
    encoder.zero_grad()
    out = encoder(**inputs)
    (out.square().sum()).backward()
    return out.detach(), {
        n: p.grad.clone() for n, p in encoder.named_parameters() if p.grad is not None
    }


@pytest.mark.parametrize("name", ["bert-tiny", "resnet20-cifar10"])
def test_checkpointing_keeps_outputs_and_gradients(name):
    enc = build_model(BackboneSpec(name, init="random"), vocab_size=100, seed=0)
    for m in enc.modules():  # dropout off: the comparison is of the same computation
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    g = torch.Generator().manual_seed(0)
    if enc.modality == "text":
        inputs = {
            "input_ids": torch.randint(0, 100, (4, 12), generator=g),
            "attention_mask": torch.ones(4, 12, dtype=torch.long),
        }
    else:
        inputs = {"pixel_values": torch.randn(4, 3, 32, 32, generator=g)}
    plain = copy.deepcopy(enc)
    out_a, grads_a = _grads(plain, inputs)
    enc.enable_gradient_checkpointing()
    out_b, grads_b = _grads(enc, inputs)
    torch.testing.assert_close(out_b, out_a)
    assert grads_a.keys() == grads_b.keys() and grads_a
    for key in grads_a:
        torch.testing.assert_close(grads_b[key], grads_a[key], rtol=1e-4, atol=1e-6)
    if enc.modality == "image":  # the module path: every block after the stem recomputes
        assert all(getattr(b, "_tb_checkpointed", False) for b in enc.layer_groups()[1:])


def test_checkpointing_saves_activation_memory_in_the_backward_graph():
    """What autograd keeps for the backward pass: fewer saved tensors with checkpointing."""
    enc = build_model(BackboneSpec("resnet56-cifar10", init="random"), seed=0).train()
    x = torch.randn(8, 3, 32, 32)

    def saved_bytes(model) -> int:
        total = 0

        def pack(t):
            nonlocal total
            total += t.numel() * t.element_size()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            model(pixel_values=x).sum()
        return total

    before = saved_bytes(enc)
    enc.enable_gradient_checkpointing()
    after = saved_bytes(enc)
    assert after < before / 3, (before, after)


def test_the_budget_field_leaves_older_ids_alone():
    spec = dict(
        backbone={"name": "bert-tiny"},
        sources=(),
        method="scratch",
        variant="scratch",
        method_config={},
        target="synth_text_near",
        fraction=0.5,
        seed=0,
    )
    budget = Budget()
    old = {k: v for k, v in vars(budget).items() if k != "gradient_checkpointing"}
    a = RunSpec(**spec, budget=vars(budget), source_budget=vars(budget))
    b = RunSpec(**spec, budget=old, source_budget=old)
    assert a.id == b.id
    on = RunSpec(**spec, budget={**vars(budget), "gradient_checkpointing": True}, source_budget=old)
    assert on.id != a.id
    assert canonical_spec(a.to_dict()) == canonical_spec(b.to_dict())
    with pytest.raises(Exception, match="gradient_checkpointing"):
        Budget.from_dict({"gradient_checkpointing": "often"})


def test_a_run_with_checkpointing_scores_as_one_without(tmp_path):
    """Dropout included: the recomputation replays the same random masks."""
    from suitekit import BUDGET, run, suite

    scores = []
    for flag in (False, True):
        specs = suite(
            methods={"finetune": {}},
            sources=["none"],
            fractions=[0.2],
            budget={**BUDGET, "num_train_epochs": 2, "gradient_checkpointing": flag},
        )
        _, outcome, records = run(specs, tmp_path / f"out{flag}", tmp_path / "cache")
        assert not outcome.failed
        (record,) = records.values()
        scores.append(record["primary_score"])
    assert scores[0] == scores[1] and scores[0] > 0.5
