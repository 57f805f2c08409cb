"""The CIFAR ResNets (He et al. 2016 §4.2) as registered module backbones: the architecture
against the paper, the option-A shortcut by hand, the checkpoint format and its errors, the
layer groups `copy_first_n` uses, and (`realdata`) ResNet-20's CIFAR-10 test accuracy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from harness.backbones import BACKBONES, BackboneSpec, build_model, register_backbone
from harness.cifar_resnet import BasicBlock, CifarResNet, checkpoint_state, load_checkpoint
from harness.errors import ConfigError
from harness.registry import Registry


@pytest.mark.parametrize("depth, millions", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85)])
def test_parameter_counts_match_the_paper(depth, millions):
    """He et al. 2016, Table 6: 0.27M / 0.46M / 0.66M / 0.85M parameters, the 64 -> 10
    classifier included; 6n + 2 weighted layers."""
    model = CifarResNet(depth)
    count = sum(p.numel() for p in model.parameters()) + 64 * 10 + 10
    assert round(count / 1e6, 2) == millions
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert convs + 1 == depth  # + the classifier
    assert len(model.layer_groups()) == 1 + (depth - 2) // 2  # the stem, then every block


def test_the_option_a_shortcut_by_hand():
    """16 -> 32 channels at stride 2: the input subsampled at even pixels, with 8 zero channels
    either side, and no parameters."""
    block = BasicBlock(16, 32, stride=2)
    x = torch.arange(2 * 16 * 4 * 4, dtype=torch.float32).view(2, 16, 4, 4)
    out = block.shortcut(x)
    assert out.shape == (2, 32, 2, 2)
    assert torch.equal(out[:, :8], torch.zeros(2, 8, 2, 2))
    assert torch.equal(out[:, 24:], torch.zeros(2, 8, 2, 2))
    assert torch.equal(out[:, 8:24], x[:, :, 0::2, 0::2])
    assert torch.equal(out[0, 8, 1, 1], x[0, 0, 2, 2])
    same = BasicBlock(16, 16)
    assert same.shortcut(x) is x


def _as_checkpoint(model: CifarResNet, linear: nn.Linear, path: Path) -> None:
    """Write `model` in the checkpoints' own layout: a DataParallel state dict with the
    original names (conv1, bn1, layerS.I..., linear)."""
    n = (model.depth - 2) // 6
    state = {}
    for key, value in model.state_dict().items():
        parts = key.split(".")
        if parts[0] == "stem":
            name = ".".join(parts[1:])
        else:
            block = int(parts[1])
            name = ".".join([f"layer{block // n + 1}", str(block % n), *parts[2:]])
        state[f"module.{name}"] = value
    for key, value in linear.state_dict().items():
        state[f"module.linear.{key}"] = value
    torch.save({"best_prec1": 90.0, "state_dict": state}, path)


def test_a_checkpoint_in_the_original_layout_loads_exactly(tmp_path):
    torch.manual_seed(0)
    trained, linear = CifarResNet(20), nn.Linear(64, 10)
    for m in trained.modules():  # running statistics away from their defaults
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-1, 1)
            m.running_var.uniform_(0.5, 2)
    _as_checkpoint(trained, linear, tmp_path / "r20.th")
    fresh = CifarResNet(20)
    classifier = load_checkpoint(fresh, tmp_path / "r20.th")
    x = torch.randn(3, 3, 32, 32)
    trained.eval(), fresh.eval()
    with torch.no_grad():
        assert torch.equal(fresh(x), trained(x))
    assert torch.equal(classifier["weight"], linear.weight)


def test_bad_checkpoints_are_named(tmp_path):
    _as_checkpoint(CifarResNet(20), nn.Linear(64, 10), tmp_path / "r20.th")
    with pytest.raises(ConfigError, match=r"r20\.th.*(does not fit ResNet-32|missing)"):
        load_checkpoint(CifarResNet(32), tmp_path / "r20.th")
    (tmp_path / "junk.th").write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match=r"cannot read CIFAR ResNet checkpoint .*junk\.th"):
        checkpoint_state(tmp_path / "junk.th", 20)
    torch.save({"state_dict": {"module.fc9.weight": torch.zeros(1)}}, tmp_path / "odd.th")
    with pytest.raises(ConfigError, match=r"odd\.th: unexpected entry 'module\.fc9\.weight'"):
        checkpoint_state(tmp_path / "odd.th", 20)
    with pytest.raises(ConfigError, match="depth must be one of"):
        CifarResNet(18)


def test_the_registered_backbones_need_their_weights_or_init_random(monkeypatch, tmp_path):
    monkeypatch.setenv("TRANSFERBENCH_DATA_DIR", str(tmp_path))
    with pytest.raises(
        ConfigError, match=r"resnet20-cifar10.*models/resnet_cifar10/resnet20-12fca82f\.th"
    ):
        build_model(BackboneSpec("resnet20-cifar10"))
    enc = build_model(BackboneSpec("resnet20-cifar10", init="random"), seed=0).eval()
    with torch.no_grad():
        assert enc(pixel_values=torch.randn(2, 3, 32, 32)).shape == (2, enc.feature_dim) == (2, 64)
    assert not BackboneSpec("resnet20-cifar10", init="random").loads_weights
    assert (
        BackboneSpec("resnet20-cifar10").loads_weights
        and not BackboneSpec("resnet-tiny").loads_weights
    )


def test_a_suite_naming_missing_weights_fails_before_any_run(tmp_path, run_main, monkeypatch):
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\nbackbones: [{name: resnet20-cifar10}]\ntargets: [synth_image_near]\n"
        "sources: [none]\nmethods: {scratch: {}}\nfractions: [0.2]\nseeds: [0]\n"
    )
    monkeypatch.setenv("TRANSFERBENCH_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path)
    proc = run_main("run", "--config", suite, "--dry_run")
    assert proc.returncode == 2, proc.stderr
    assert "resnet20-12fca82f.th" in proc.stderr and "Traceback" not in proc.stderr


def test_copy_first_n_on_its_layer_groups_keeps_the_stem_and_first_block():
    """What `finetune` does with copy_first_n=2: the stem and block 0 keep the source's
    weights; later blocks are re-initialised by the module's own init."""
    from harness.backbones import reinitialize

    torch.manual_seed(0)
    enc = build_model(BackboneSpec("resnet20-cifar10", init="random"), seed=0)
    for value in enc.state_dict().values():
        if value.is_floating_point():
            value.add_(1.0)  # "source-trained": weights and statistics away from any init
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    groups = enc.layer_groups()
    for group in groups[2:]:
        reinitialize(group, enc.model)
    after = enc.state_dict()
    for key, value in after.items():
        if key.endswith("num_batches_tracked"):
            continue
        kept = key.startswith(("model.stem.", "model.blocks.0."))
        assert torch.equal(value, before[key]) == kept, key
    assert torch.equal(after["model.blocks.5.bn1.weight"], torch.ones(32))  # BN back to identity


def test_any_module_with_the_interface_registers_as_a_backbone(monkeypatch):
    class Tiny(nn.Module):
        feature_dim = 4

        def __init__(self):
            super().__init__()
            self.stem, self.head = nn.Conv2d(3, 4, 3), nn.Conv2d(4, 4, 1)

        def forward(self, pixel_values):
            return self.head(self.stem(pixel_values))  # a feature map: the encoder pools it

        def layer_groups(self):
            return [self.stem, self.head]

    monkeypatch.setattr("harness.backbones.BACKBONES", Registry("backbone"))
    import harness.backbones as hb

    register_backbone("tiny-conv", "image", Tiny, "a test module")
    enc = build_model(BackboneSpec("tiny-conv"), seed=0)
    assert enc(pixel_values=torch.randn(2, 3, 8, 8)).shape == (2, 4)
    assert len(enc.layer_groups()) == 2 and hb.BACKBONES.get("tiny-conv").modality == "image"
    with pytest.raises(ConfigError, match="need a load"):
        register_backbone("w", "image", Tiny, "x", weights="w.pt")
    assert "resnet20-cifar10" in BACKBONES  # the real registry is untouched


@pytest.mark.realdata
def test_resnet20_cifar10_test_accuracy(real_data_dir, monkeypatch):
    """ResNet-20 through the harness's own path (card, local parquet, image pipeline, encoder)
    on a stratified sample of 2,000 CIFAR-10 test images. The checkpoint states 91.8 % on the
    original images; this copy was re-encoded as JPEG (quality about 75, chroma subsampled),
    which costs the model about 11 points: 81.0 % on all 10,000 here. Tolerance: 81.0 % minus
    3 binomial standard errors of a 2,000 sample (0.9 points each) = 78 %. A wrong channel
    order or normalisation lands far below (BGR input: 69 %)."""
    from harness.backbones import image_settings
    from harness.data.loading import load_raw_split
    from harness.preprocess import images_to_tensor
    from harness.taskregistry import TaskRegistry

    monkeypatch.setenv("TRANSFERBENCH_DATA_DIR", str(real_data_dir))
    card = TaskRegistry().get("cifar10")
    test, source, _ = load_raw_split(card, "test", real_data_dir, "local")
    assert source == "local"
    sample = test.select(range(0, len(test), 5))  # this copy is sorted by label: 200 per class
    spec = BackboneSpec("resnet20-cifar10")
    encoder = build_model(spec).eval()
    _, classifier = checkpoint_state(
        real_data_dir / "models/resnet_cifar10/resnet20-12fca82f.th", 20
    )
    linear = nn.Linear(64, 10)
    linear.load_state_dict(classifier)
    settings = image_settings(spec)
    correct = 0
    with torch.no_grad():
        for i in range(0, len(sample), 250):
            rows = sample[i : i + 250]
            logits = linear(encoder(pixel_values=images_to_tensor(rows["img"], settings)))
            correct += int((logits.argmax(1) == torch.tensor(rows["label"])).sum())
    accuracy = correct / len(sample)
    assert 0.78 <= accuracy <= 0.918 + 0.02, accuracy
