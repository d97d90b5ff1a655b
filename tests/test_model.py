"""DeepLabV3+ shapes, cosine classifier, deep stem, parameter groups, pretrained loading."""

from __future__ import annotations

import re

import pytest
import torch
import torchvision

from actseg.model import PretrainedWeightsError, build_model


def _forward(model, x, **kw):
    model.eval()
    with torch.no_grad():
        return model(x, **kw)


def _backbone_stride(model, x) -> tuple[int, int]:
    with torch.no_grad():
        low, high = model.backbone.eval()(x)
    return x.shape[2] // low.shape[2], x.shape[2] // high.shape[2]


@pytest.mark.parametrize("backbone,size", [("small", (40, 56)), ("resnet18", (40, 56)),
                                           ("resnet34", (32, 48)), ("resnet50", (32, 32)),
                                           ("resnet101", (32, 32))])
@pytest.mark.parametrize("output_stride", [16, 8])
def test_shapes_range_and_unit_features(backbone, size, output_stride):
    torch.manual_seed(0)
    model = build_model(backbone, num_classes=5, output_stride=output_stride)
    x = torch.randn(1, 3, *size)
    logits, feats = _forward(model, x, return_features=True)
    assert logits.shape == (1, 6, *size)  # C + 1 outputs at the input size
    assert float(logits.abs().max()) <= 1.0 + 1e-6
    assert feats.shape == (1, model.feature_channels, -(-size[0] // 4), -(-size[1] // 4))
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(feats.shape[0], *feats.shape[2:]))
    assert _backbone_stride(model, torch.randn(1, 3, 64, 64)) == (4, output_stride)
    assert torch.equal(_forward(model, x), logits)


def test_deep_stem_and_dilated_last_stage():
    model = build_model("resnet50", num_classes=19)
    convs = [m for m in model.backbone.stem if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.stride) for c in convs] == [
        (3, 64, (3, 3), (2, 2)), (64, 64, (3, 3), (1, 1)), (64, 128, (3, 3), (1, 1))]
    assert model.backbone.layer1[0].conv1.in_channels == 128
    assert model.backbone.layer4[0].conv2.stride == (1, 1)
    assert [b.conv2.dilation for b in model.backbone.layer4] == [(1, 1), (2, 2), (2, 2)]
    os8 = build_model("resnet18", num_classes=19, output_stride=8)
    assert [b.conv1.dilation for b in os8.backbone.layer3] == [(1, 1), (2, 2)]
    assert [b.conv1.dilation for b in os8.backbone.layer4] == [(2, 2), (4, 4)]
    # ASPP: 1×1, three depthwise-separable atrous branches, image pooling
    rates = [b[0].dilation for b in model.aspp.branches[1:4]]
    assert rates == [(6, 6), (12, 12), (18, 18)]
    assert all(b[0].groups == b[0].in_channels for b in model.aspp.branches[1:4])
    assert model.decoder.low_project[0].out_channels == 48


def test_cosine_classifier_is_normalised_inner_product():
    model = build_model("small", num_classes=3)
    feats = torch.randn(2, model.feature_channels, 4, 5)
    w = model.classifier.weight.detach()
    expected = torch.einsum("bchw,kc->bkhw", feats / feats.norm(dim=1, keepdim=True),
                            w / w.norm(dim=1, keepdim=True))
    with torch.no_grad():
        torch.testing.assert_close(model.classifier(feats), expected)
        model.classifier.weight.mul_(7.0)  # no learnable scale: the norm of w is irrelevant
        torch.testing.assert_close(model.classifier(3.0 * feats), expected)
    assert [n for n, _ in model.classifier.named_parameters()] == ["weight"]  # no bias


def test_param_groups_cover_every_parameter_once():
    model = build_model("resnet18", num_classes=19)
    groups = model.param_groups()
    ids = [id(p) for g in groups.values() for p in g]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert {id(p) for p in groups["backbone"]} == {id(p) for p in model.backbone.parameters()}
    assert any(p is model.classifier.weight for p in groups["head"])


def test_build_is_deterministic_and_head_width_is_a_parameter():
    torch.manual_seed(3)
    a = build_model("small", num_classes=4, head_channels=32)
    torch.manual_seed(3)
    b = build_model("small", num_classes=4, head_channels=32)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(_forward(a, x), _forward(b, x), rtol=0, atol=0)
    assert _forward(a, x, return_features=True)[1].shape[1] == 32


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown backbone"):
        build_model("vgg16", num_classes=3)
    with pytest.raises(ValueError, match="output_stride"):
        build_model("small", num_classes=3, output_stride=32)
    with pytest.raises(ValueError, match="unknown stem"):
        build_model("small", num_classes=3, stem="fancy")


# ----------------------------------------------------------------- pretrained weights


def _backbone_equal(model, state, rename=lambda k: k):
    own = model.backbone.state_dict()
    for key, value in state.items():
        if not key.startswith("fc."):
            assert torch.equal(own[rename(key)], value), key


def _torchvision_to_ours(key: str) -> str:
    for old, new in (("conv1.", "stem.0."), ("bn1.", "stem.1.")):
        if key.startswith(old):
            return new + key[len(old):]
    return key


def test_torchvision_state_dict_loads_into_standard_stem(tmp_path, caplog):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18()
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    with caplog.at_level("INFO", logger="actseg.model"):
        model = build_model("resnet18", num_classes=19, pretrained=path, stem="standard")
    _backbone_equal(model, reference.state_dict(), _torchvision_to_ours)
    assert "loaded pretrained resnet18" in caplog.text
    # the same network as torchvision's trunk (eval mode, no dilation at stage 3)
    x = torch.randn(1, 3, 64, 64)
    reference.eval()
    with torch.no_grad():
        expected = reference.layer1(reference.maxpool(reference.relu(reference.bn1(
            reference.conv1(x)))))
        low, _ = model.backbone.eval()(x)
    torch.testing.assert_close(low, expected)


def test_torchvision_state_dict_into_deep_stem_is_a_clear_error(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    with pytest.raises(PretrainedWeightsError) as err:
        build_model("resnet18", num_classes=19, pretrained=path)
    text = str(err.value)
    assert str(path) in text and "stem.3.weight" in text and "stem='standard'" in text
    assert "layer1.0.conv1.weight (64, 64, 3, 3) vs (64, 128, 3, 3)" in text


def test_deep_stem_checkpoints_load_with_wrappers(tmp_path):
    torch.manual_seed(2)
    source = build_model("resnet18", num_classes=19)
    backbone_only = tmp_path / "backbone.pt"
    torch.save(source.backbone.state_dict(), backbone_only)
    wrapped = tmp_path / "wrapped.pt"  # whole model, DataParallel names, a "state_dict" key
    torch.save({"state_dict": {f"module.{k}": v for k, v in source.state_dict().items()},
                "epoch": 3}, wrapped)
    for path in (backbone_only, wrapped):
        torch.manual_seed(5)
        model = build_model("resnet18", num_classes=7, pretrained=path)
        _backbone_equal(model, source.backbone.state_dict())


def test_mismatch_lists_missing_and_unexpected_keys(tmp_path):
    state = build_model("small", num_classes=3).backbone.state_dict()
    del state["layer2.0.conv1.weight"]
    state["layer9.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pt"
    torch.save(state, path)
    with pytest.raises(PretrainedWeightsError) as err:
        build_model("small", num_classes=3, pretrained=path)
    text = str(err.value)
    assert "missing keys (1): layer2.0.conv1.weight" in text
    assert "unexpected keys (1): layer9.weight" in text


def _empty(path):
    path.write_bytes(b"")


def _text(path):
    path.write_text("these are not weights\n")


def _folder(path):
    path.mkdir()


@pytest.mark.parametrize("make, problem", [
    (None, "nope.pt: no such file; expected a PyTorch state dict"),
    (_folder, "weights.pt: is a folder; expected a PyTorch state dict"),
    (_empty, "weights.pt: is empty (0 bytes); expected a PyTorch state dict"),
    (_text, "weights.pt: not a PyTorch weights file: a text file starting 'these are not"),
])
def test_missing_or_unreadable_file_says_what_it_is(tmp_path, make, problem):
    """Issue 17, item 11: say what the file is and what was expected."""
    path = tmp_path / "nope.pt"
    if make:
        path = tmp_path / "weights.pt"
        make(path)
    with pytest.raises(PretrainedWeightsError, match=re.escape(problem)):
        build_model("small", num_classes=3, pretrained=path)


def test_a_folder_as_weights_is_named_by_the_config_check(tmp_path, monkeypatch):
    from actseg.experiments.validation import ConfigError, validate_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights.pt").mkdir()
    with pytest.raises(ConfigError, match="model.pretrained: weights.pt: is a folder"):
        validate_config({"model": {"pretrained": "weights.pt"}})


def test_whole_model_files_initialise_the_head_unless_asked_not_to(tmp_path):
    torch.manual_seed(3)
    source = build_model("small", num_classes=5)
    path = tmp_path / "whole.pt"
    torch.save({k: v for k, v in source.state_dict().items() if not k.startswith("classifier")},
               path)
    own = source.state_dict()
    for head in (True, False):
        torch.manual_seed(4)
        model = build_model("small", num_classes=19, pretrained=path, pretrained_head=head)
        _backbone_equal(model, source.backbone.state_dict())
        same = [torch.equal(v, own[k]) for k, v in model.state_dict().items()
                if k.startswith(("aspp.", "decoder.")) and v.dim() == 4]  # conv weights
        assert all(same) if head else not any(same)
        assert model.classifier.weight.shape[0] == 20  # never taken from the file


def test_head_mismatch_names_the_head(tmp_path):
    source = build_model("small", num_classes=3, head_channels=32)
    path = tmp_path / "whole.pt"
    torch.save(source.state_dict(), path)
    with pytest.raises(PretrainedWeightsError, match="do not match the ASPP and decoder"):
        build_model("small", num_classes=3, pretrained=path)
    build_model("small", num_classes=3, pretrained=path, pretrained_head=False)


@pytest.mark.parametrize("name", ["BasicBlock", "Bottleneck"])
@pytest.mark.parametrize("stride", [1, 2])
def test_blocks_compute_what_torchvisions_compute_with_its_names(name, stride):
    """actseg.blocks stands in for torchvision's blocks (whose import costs every job ~2 s):
    the same state-dict keys and shapes, and the same outputs from the same weights."""
    import torchvision.models.resnet as tv

    from actseg import blocks

    planes, inplanes = 4, 8
    ours_cls, theirs_cls = getattr(blocks, name), getattr(tv, name)
    out = planes * ours_cls.expansion

    def downsample():
        return torch.nn.Sequential(torch.nn.Conv2d(inplanes, out, 1, stride=stride, bias=False),
                                   torch.nn.BatchNorm2d(out))

    torch.manual_seed(0)
    theirs = theirs_cls(inplanes, planes, stride, downsample())
    for module in theirs.modules():  # non-trivial BN statistics and affine parameters
        if isinstance(module, torch.nn.BatchNorm2d):
            torch.nn.init.uniform_(module.weight, 0.5, 1.5)
            torch.nn.init.uniform_(module.bias, -0.5, 0.5)
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
    ours = ours_cls(inplanes, planes, stride, downsample())
    assert ours.expansion == theirs_cls.expansion
    theirs_state = theirs.state_dict()
    assert {k: v.shape for k, v in ours.state_dict().items()} == \
        {k: v.shape for k, v in theirs_state.items()}
    ours.load_state_dict(theirs_state)
    x = torch.randn(2, inplanes, 9, 11)
    for mode in ("eval", "train"):
        getattr(ours, mode)(), getattr(theirs, mode)()
        torch.testing.assert_close(ours(x), theirs(x))


def test_model_import_does_not_load_torchvision():
    import subprocess
    import sys

    code = "import sys, actseg.model; print('torchvision' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def test_head_is_the_authors_separable_aspp_and_decoder():
    """Separable conv = depthwise then pointwise with nothing between, then BN + ReLU;
    image pooling = bias-free 1×1 conv + BN + ReLU; Dropout(0.1) after the projection."""
    torch.manual_seed(0)
    model = build_model("small")
    sep = model.aspp.branches[1]
    kinds = [type(m) for m in sep]
    assert kinds == [torch.nn.Conv2d, torch.nn.Conv2d, torch.nn.BatchNorm2d, torch.nn.ReLU]
    assert sep[0].groups == sep[0].in_channels and sep[0].dilation == (6, 6)
    assert sep[1].kernel_size == (1, 1) and sep[1].groups == 1
    x = torch.randn(2, sep[0].in_channels, 5, 7)
    expected = torch.relu(sep[2](sep[1](sep[0](x))))
    assert torch.equal(sep(x), expected)
    for fuse in model.decoder.fuse:
        assert [type(m) for m in fuse] == kinds
    pool = model.aspp.branches[-1]
    assert pool.conv.bias is None and isinstance(pool.bn, torch.nn.BatchNorm2d)
    pool.eval()
    by_hand = torch.relu(pool.bn(pool.conv(x.mean(dim=(2, 3), keepdim=True))))
    assert torch.allclose(pool(x), by_hand.expand(-1, -1, 5, 7))
    drop = model.aspp.project[-1]
    assert isinstance(drop, torch.nn.Dropout) and drop.p == 0.1


def test_image_pooling_trains_on_a_batch_of_one():
    model = build_model("small").train()
    model(torch.randn(1, 3, 64, 64)).sum().backward()  # BN of a 1×1 map: running stats


def test_classifier_starts_as_a_default_initialised_bias_free_conv():
    """The authors' cosine classifier is nn.Conv2d(D, C+1, 1, bias=False) at PyTorch's
    default init: uniform in ±1/sqrt(D)."""
    torch.manual_seed(0)
    weight = build_model("small", num_classes=19).classifier.weight
    bound = 1 / weight.shape[1] ** 0.5
    assert weight.abs().max() <= bound and weight.abs().max() > 0.9 * bound
    torch.manual_seed(1)
    conv = torch.nn.Conv2d(weight.shape[1], weight.shape[0], 1, bias=False)
    assert abs(conv.weight.std().item() - weight.std().item()) < 0.1 * weight.std().item()
