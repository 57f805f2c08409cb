"""Probes at any depth (#20): the features of every layer group from one forward pass, a probe
at layer k against one built by hand on the same layer's features, `layers: all` as one run per
layer at one forward pass per split, and what bad layer settings get."""

from __future__ import annotations

import pytest
import torch
from suitekit import FE, TEXT_BB, run, suite
from torch.utils.data import DataLoader

from baselines.feature_extraction import FeatureSet, HeadOnFeatures, collate_features
from harness.backbones import BackboneSpec, build_model, layer_group_count
from harness.encoders import Encoders
from harness.errors import ConfigError
from harness.heads import build_head
from harness.layers import layer_features
from harness.spec import Budget, RunSpec
from harness.training import train_model


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _masked_mean(hidden, mask):
    m = mask.unsqueeze(-1).float()
    return (hidden * m).sum(1) / m.sum(1)


def test_every_layer_of_a_text_encoder_from_one_pass_matches_its_hidden_states():
    encoder = build_model(BackboneSpec(**TEXT_BB), vocab_size=1000, seed=0).eval()
    ids = torch.randint(5, 1000, (4, 9))
    mask = torch.ones_like(ids)
    mask[0, 5:] = 0  # a padded row: pooling skips its padding
    with torch.no_grad():
        layers = layer_features(encoder, input_ids=ids, attention_mask=mask)
        hidden = encoder.model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        last = encoder(input_ids=ids, attention_mask=mask)
    n = len(encoder.layer_groups())
    assert len(layers) == n == len(hidden.hidden_states)  # the embeddings, then each block
    for k in range(n):
        torch.testing.assert_close(layers[k], _masked_mean(hidden.hidden_states[k], mask))
    torch.testing.assert_close(layers[-1], last)  # layer n is the default probe's features


def test_every_layer_of_a_convolutional_encoder_is_its_map_averaged_over_space():
    encoder = build_model(BackboneSpec(name="resnet20-cifar10", init="random"), seed=0).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        layers = layer_features(encoder, pixel_values=x)
        by_hand, h = [], x
        for group in encoder.layer_groups():
            h = group(h)
            by_hand.append(h.mean(dim=(2, 3)))
    assert [t.shape[1] for t in layers] == [16, 16, 16, 16, 32, 32, 32, 64, 64, 64]
    for ours, theirs in zip(layers, by_hand):
        torch.testing.assert_close(ours, theirs)


def test_a_probe_at_layer_k_scores_what_a_hand_built_probe_on_that_layer_scores(
    tmp_path, cache_dir
):
    specs = suite(methods={"feature_extraction": {**FE, "layer": 2}}, fractions=[0.5])
    runner, outcome, records = run(specs, tmp_path, cache_dir)
    assert not outcome.failed
    record = next(iter(records.values()))
    assert record["extra"]["layer"] == 2 and record["extra"]["layer_groups"] == 3
    ctx = runner.context(RunSpec.from_dict(record["spec"]))
    encoder = ctx.start_encoder().eval()
    # the head is drawn where the method draws it: right after the encoder is built
    head = build_head(ctx.card, encoder.feature_dim, 0, 0.1)
    sets = {}
    for role in ("train", "validation", "test"):  # layer 2 by hand: the first block's states
        feats, labels = [], []
        loader = DataLoader(ctx.split(role), batch_size=50, collate_fn=ctx.pipeline.collate)
        with torch.no_grad():
            for batch in loader:
                labels.append(batch.pop("labels"))
                out = encoder.model(**batch, output_hidden_states=True)
                feats.append(_masked_mean(out.hidden_states[1], batch["attention_mask"]))
        sets[role] = (torch.cat(feats), torch.cat(labels))
        ours = ctx.features(encoder, role, 2)
        torch.testing.assert_close(ours[0], sets[role][0], rtol=1e-4, atol=1e-5)
        assert torch.equal(ours[1], sets[role][1])
    x = sets["train"][0]
    model = HeadOnFeatures(head, x.mean(0), x.std(0).clamp(min=1e-6))
    budget = Budget(**{**ctx.budget.__dict__, "group_by_length": False})
    data = {role: FeatureSet(*sets[role]) for role in sets}
    result = train_model(
        model,
        ctx.card,
        data["train"],
        data["validation"],
        data["test"],
        collate_features,
        budget,
        ctx.accelerator,
        ctx.seed,
    )
    assert result.primary == pytest.approx(record["primary_score"], abs=1e-6)


def test_layers_all_is_one_run_per_layer_from_one_forward_pass_per_split(tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"  # its own: the counts start from an empty cache
    passes = []
    compute = Encoders._compute

    def counted(self, encoder, ds, every_layer=False):
        passes.append((len(ds), every_layer))
        return compute(self, encoder, ds, every_layer)

    monkeypatch.setattr(Encoders, "_compute", counted)
    specs = suite(
        methods={"probe": {**FE, "method": "feature_extraction", "layers": "all"}},
        fractions=[0.5],
        seeds=[0, 1],
    )
    n = layer_group_count(BackboneSpec(**TEXT_BB))
    assert n == 3
    assert sorted({s.variant for s in specs}) == [f"probe@{k}" for k in range(1, n + 1)]
    assert sorted(s.method_config["layer"] for s in specs) == sorted(list(range(1, n + 1)) * 2)
    runner, outcome, records = run(specs, tmp_path, cache_dir)
    assert len(outcome.ran) == 2 * n and not outcome.failed
    # the base encoder is seeded, so each seed's encoder is its own: 3 splits per seed
    assert len(passes) == 2 * 3 and all(every for _, every in passes)
    counts = runner.cache.counts
    assert counts["layer_features_miss"] == 2 * 3
    assert counts["layer_features_hit"] == 2 * 3 * (n - 1)
    layers = sorted(r["extra"]["layer"] for r in records.values())
    assert layers == sorted(list(range(1, n + 1)) * 2)
    # the probe at layer n reads what the default probe reads
    last = [r for r in records.values() if r["extra"]["layer"] == n and r["spec"]["seed"] == 0]
    _, _, default = run(
        suite(methods={"feature_extraction": FE}, fractions=[0.5]), tmp_path / "d", cache_dir
    )
    assert last[0]["primary_score"] == pytest.approx(
        next(iter(default.values()))["primary_score"], abs=1e-5
    )


def test_the_default_probe_keeps_its_run_id():
    """Adding `layer` / `layers` to the method's settings leaves older runs' ids alone."""
    (spec,) = suite(methods={"feature_extraction": FE}, fractions=[0.5])
    old = spec.to_dict()
    old["method_config"] = {
        k: v for k, v in old["method_config"].items() if k not in ("layer", "layers")
    }
    assert RunSpec.from_dict(old).id == spec.id
    (at_two,) = suite(methods={"feature_extraction": {**FE, "layer": 2}}, fractions=[0.5])
    assert at_two.id != spec.id


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"layer": 9}, "layer 9 is out of range: backbone 'bert-tiny' has 3 layer groups"),
        ({"layer": -2}, "layer must be >= 1"),
        ({"layers": "some"}, "layers must be 'all'"),
        ({"layers": "all", "layer": 2}, "either layer"),
    ],
)
def test_bad_layer_settings_are_named_before_anything_runs(settings, message):
    with pytest.raises(ConfigError, match=message):
        suite(methods={"feature_extraction": settings})
