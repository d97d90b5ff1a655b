"""DeepLabV3+ with a deep-stem ResNet backbone and a cosine classifier (docs/method.md §4).

Layout of the parameters (names matter for checkpoints and pretrained weights):
- `backbone.stem.*`  deep stem: `stem.0/1` conv+BN 3→s0 (stride 2), `stem.3/4` s0→s1,
  `stem.6/7` s1→s2 (the ReLUs are `stem.2/5/8`); the standard stem is `stem.0/1` (7×7 conv),
  and torchvision's `conv1`/`bn1` keys are renamed to it when its weights are loaded.
- `backbone.layer1..layer4.*`  torchvision's block names (conv1, bn1, ..., downsample.0/1).
- `aspp.*`, `decoder.*`, `classifier.weight`  the head.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from actseg.blocks import BasicBlock, Bottleneck
from actseg.errors import ActsegError
from actseg.weightfile import file_problem, unreadable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackboneSpec:
    """Shape of one ResNet-family backbone."""

    block: type[nn.Module]
    depths: tuple[int, int, int, int]
    widths: tuple[int, int, int, int]  # `planes` of each stage (output = planes × expansion)
    stem_widths: tuple[int, int, int]  # deep stem conv widths; its output feeds stage 1
    head_channels: int  # ASPP / decoder width (= feature dimension of the classifier)


_RESNET_WIDTHS = (64, 128, 256, 512)
_RESNET_STEM = (64, 64, 128)

# The small CPU backbone: deep stem 16-16-32 + one basic block per stage, head width 64.
# Chosen by measurement (benchmarks/README.md): a stage-1 training step runs at about
# 120 images/s at 128×128 and 64 images/s at 128×256 on 2 CPU threads (batch 8).
SMALL_WIDTHS = (16, 32, 64, 128)
SMALL_HEAD_CHANNELS = 64

BACKBONES: dict[str, BackboneSpec] = {
    "small": BackboneSpec(
        BasicBlock, (1, 1, 1, 1), SMALL_WIDTHS,
        (SMALL_WIDTHS[0], SMALL_WIDTHS[0], 2 * SMALL_WIDTHS[0]), SMALL_HEAD_CHANNELS,
    ),
    "resnet18": BackboneSpec(BasicBlock, (2, 2, 2, 2), _RESNET_WIDTHS, _RESNET_STEM, 256),
    "resnet34": BackboneSpec(BasicBlock, (3, 4, 6, 3), _RESNET_WIDTHS, _RESNET_STEM, 256),
    "resnet50": BackboneSpec(Bottleneck, (3, 4, 6, 3), _RESNET_WIDTHS, _RESNET_STEM, 256),
    "resnet101": BackboneSpec(Bottleneck, (3, 4, 23, 3), _RESNET_WIDTHS, _RESNET_STEM, 256),
}

STEMS = ("deep", "standard")


class PretrainedWeightsError(ActsegError, ValueError):
    """Pretrained weights could not be found, fetched or matched to the backbone."""


# --------------------------------------------------------------------------- backbone


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False)
    return [conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _make_stem(kind: str, widths: tuple[int, int, int]) -> tuple[nn.Sequential, int]:
    """Deep stem (three 3×3 convs, the first with stride 2) or torchvision's 7×7 stem."""
    if kind == "deep":
        w0, w1, w2 = widths
        layers = _conv_bn_relu(3, w0, 3, 2) + _conv_bn_relu(w0, w1, 3) + _conv_bn_relu(w1, w2, 3)
        return nn.Sequential(*layers), w2
    if kind == "standard":
        return nn.Sequential(*_conv_bn_relu(3, 64, 7, 2)), 64
    raise ValueError(f"unknown stem {kind!r}; expected one of {STEMS}")


def _set_dilation(block: nn.Module, dilation: int) -> None:
    """Dilate every 3×3 conv of a block (torchvision's BasicBlock refuses dilation > 1)."""
    for conv in block.modules():
        if isinstance(conv, nn.Conv2d) and conv.kernel_size == (3, 3):
            conv.dilation = (dilation, dilation)
            conv.padding = (dilation, dilation)


def _make_stage(
    block: type[nn.Module], inplanes: int, planes: int, depth: int,
    stride: int, first_dilation: int, dilation: int,
) -> nn.Sequential:
    """A ResNet stage; as in torchvision, its first block keeps the previous dilation."""
    out = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)
        )
    blocks = [block(inplanes, planes, stride, downsample)]
    blocks += [block(out, planes) for _ in range(depth - 1)]
    for i, b in enumerate(blocks):
        _set_dilation(b, first_dilation if i == 0 else dilation)
    return nn.Sequential(*blocks)


class ResNetBackbone(nn.Module):
    """ResNet trunk returning (stage-1 features, last-stage features) at stride 4 / OS."""

    def __init__(self, spec: BackboneSpec, output_stride: int = 16, stem: str = "deep"):
        super().__init__()
        if output_stride not in (8, 16):
            raise ValueError(f"output_stride must be 8 or 16, got {output_stride}")
        self.stem, inplanes = _make_stem(stem, spec.stem_widths)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        # Output stride 16 dilates the last stage instead of striding it; 8 the last two.
        strides = (1, 2, 2, 1) if output_stride == 16 else (1, 2, 1, 1)
        dilations = (1, 1, 1, 2) if output_stride == 16 else (1, 1, 2, 4)
        previous = 1
        for i in range(4):
            stage = _make_stage(
                spec.block, inplanes, spec.widths[i], spec.depths[i],
                strides[i], previous, dilations[i],
            )
            self.add_module(f"layer{i + 1}", stage)
            inplanes = spec.widths[i] * spec.block.expansion
            previous = dilations[i]
        self.low_level_channels = spec.widths[0] * spec.block.expansion
        self.out_channels = inplanes

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.stem(x))
        low = self.layer1(x)
        high = self.layer4(self.layer3(self.layer2(low)))
        return low, high


# --------------------------------------------------------------------------- head


class SeparableConv(nn.Sequential):
    """Depthwise (atrous) 3×3 then pointwise 1×1, + BN + ReLU: the authors' separable conv
    (their `convert_to_separable_conv` of a conv-BN-ReLU; nothing between dw and pw)."""

    def __init__(self, cin: int, cout: int, dilation: int = 1):
        super().__init__(
            nn.Conv2d(cin, cin, 3, padding=dilation, dilation=dilation, groups=cin, bias=False),
            *_conv_bn_relu(cin, cout, 1),
        )


class ImagePooling(nn.Module):
    """Global average pool → bias-free 1×1 conv → BN → ReLU → broadcast (the authors').

    BN of a 1×1 map needs two samples in training; a training batch of one uses the
    running statistics instead of failing.
    """

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.conv(x.mean(dim=(2, 3), keepdim=True))
        if self.training and pooled.shape[0] == 1:
            bn = self.bn
            pooled = F.batch_norm(pooled, bn.running_mean, bn.running_var, bn.weight, bn.bias,
                                  False, 0.0, bn.eps)
        else:
            pooled = self.bn(pooled)
        return F.relu(pooled).expand(-1, -1, x.shape[2], x.shape[3])


class ASPP(nn.Module):
    """1×1 + separable atrous 3×3 at each rate + image pooling, concatenated and projected
    (1×1 + BN + ReLU + Dropout(0.1), as the authors')."""

    def __init__(self, cin: int, cout: int, rates: Sequence[int]):
        super().__init__()
        branches = [nn.Sequential(*_conv_bn_relu(cin, cout, 1))]
        branches += [SeparableConv(cin, cout, int(r)) for r in rates]
        branches.append(ImagePooling(cin, cout))
        self.branches = nn.ModuleList(branches)
        self.project = nn.Sequential(*_conv_bn_relu(cout * len(branches), cout, 1), nn.Dropout(0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([b(x) for b in self.branches], dim=1))


class Decoder(nn.Module):
    """Low-level 1×1 projection, concat with the upsampled ASPP output, two separable convs."""

    def __init__(self, low_in: int, low_out: int, channels: int):
        super().__init__()
        self.low_project = nn.Sequential(*_conv_bn_relu(low_in, low_out, 1))
        self.fuse = nn.Sequential(
            SeparableConv(channels + low_out, channels), SeparableConv(channels, channels)
        )

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        high = F.interpolate(high, size=low.shape[2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([high, self.low_project(low)], dim=1))


class CosineClassifier(nn.Module):
    """Logits = <f/|f|, w_c/|w_c|> in [-1, 1]; no bias, no learnable scale.

    Computed in float32 even under autocast: the logits are divided by a small τ later.
    """

    def __init__(self, in_channels: int, num_outputs: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_outputs, in_channels))
        # the authors' classifier is a fresh bias-free 1×1 Conv2d left at PyTorch's default
        # init (their head's kaiming init runs before it is created): U(±1/sqrt(fan_in))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    @staticmethod
    def normalize(features: torch.Tensor) -> torch.Tensor:
        return F.normalize(features.float(), dim=1, eps=1e-12)

    def forward(self, features: torch.Tensor, normalized: bool = False) -> torch.Tensor:
        with torch.autocast(features.device.type, enabled=False):
            f = features.float() if normalized else self.normalize(features)
            w = F.normalize(self.weight.float(), dim=1, eps=1e-12)
            return F.conv2d(f, w[:, :, None, None])


class DeepLabV3Plus(nn.Module):
    """DeepLabV3+ (docs/method.md §4) with `num_outputs` = C+1 cosine-classifier outputs."""

    def __init__(
        self, backbone: ResNetBackbone, num_outputs: int,
        aspp_rates: Sequence[int] = (6, 12, 18), head_channels: int = 256,
    ):
        super().__init__()
        self.backbone = backbone
        low_out = max(8, round(48 * head_channels / 256))  # 48 at the standard width
        self.aspp = ASPP(backbone.out_channels, head_channels, aspp_rates)
        self.decoder = Decoder(backbone.low_level_channels, low_out, head_channels)
        self.classifier = CosineClassifier(head_channels, num_outputs)
        self.feature_channels = head_channels
        _init_weights(self)

    def forward(self, x: torch.Tensor, return_features: bool = False):
        """Logits (B, C+1, H, W) at input size; with `return_features` also the normalised
        decoder features (B, head_channels, H/4, W/4) in float32."""
        low, high = self.backbone(x)
        feats = CosineClassifier.normalize(self.decoder(low, self.aspp(high)))
        logits = self.classifier(feats, normalized=True)
        logits = F.interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=False)
        return (logits, feats) if return_features else logits

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Backbone parameters (base lr) and head parameters (lr × head multiplier)."""
        backbone = list(self.backbone.parameters())
        ids = {id(p) for p in backbone}
        return {"backbone": backbone, "head": [p for p in self.parameters() if id(p) not in ids]}


def _init_weights(model: nn.Module, zero_init_residual: bool = True) -> None:
    """Kaiming convs, unit BN; each residual block's last BN starts at γ = 0 so the block
    starts as its shortcut. Without that a from-scratch ResNet-50 head had chaotic gradients
    (fp32 vs bf16 backbone gradients at cosine ≈ 0.05; benchmarks/README.md)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_residual:
        for m in model.modules():
            last_bn = {BasicBlock: "bn2", Bottleneck: "bn3"}.get(type(m))
            if last_bn:
                nn.init.zeros_(getattr(m, last_bn).weight)


# --------------------------------------------------------------------------- pretrained

_IGNORED_PREFIXES = ("fc.",)  # the ImageNet classifier of torchvision checkpoints
_TORCHVISION_STEM = {"conv1.": "stem.0.", "bn1.": "stem.1."}
_HEAD_PREFIXES = ("aspp.", "decoder.")  # the head a whole-model file may carry


def _unwrap_state_dict(obj: object, source: str) -> dict[str, torch.Tensor]:
    """Accept a bare state dict or one wrapped in "state_dict"/"model"; strip "module."."""
    for key in ("state_dict", "model"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
    if not isinstance(obj, Mapping) or not all(torch.is_tensor(v) for v in obj.values()):
        raise PretrainedWeightsError(f"{source}: not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def split_pretrained(state: Mapping[str, torch.Tensor]
                     ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(backbone state, head state) of a weights file. A whole-model file of ours (keys
    `backbone.*`) also yields its ASPP and decoder (`aspp.*`, `decoder.*`; the classifier
    is never taken: its classes are the source task's); a backbone-only or torchvision file
    yields an empty head."""
    head: dict[str, torch.Tensor] = {}
    if any(k.startswith("backbone.") for k in state):
        head = {k: v for k, v in state.items() if k.startswith(_HEAD_PREFIXES)}
        state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    if "conv1.weight" in state:  # torchvision layout: rename its stem to ours
        for old, new in _TORCHVISION_STEM.items():
            state = {(new + k[len(old):] if k.startswith(old) else k): v for k, v in state.items()}
    return {k: v for k, v in state.items() if not k.startswith(_IGNORED_PREFIXES)}, head


def _list(keys: Sequence[str], limit: int = 20) -> str:
    keys = sorted(keys)
    more = f" ... (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def _stem_kernel(state: Mapping[str, torch.Tensor]) -> int | None:
    weight = state.get("stem.0.weight")
    return None if weight is None else weight.shape[-1]


def _check_state(own: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor],
                 source: str, what: str) -> None:
    """Raise a PretrainedWeightsError listing every missing, unexpected or wrongly shaped key
    of `state` against the module state `own` (BN's `num_batches_tracked` is optional)."""
    optional = {k for k in own if k.endswith("num_batches_tracked")}
    missing = [k for k in own if k not in state and k not in optional]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
              for k, v in own.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        problems = [f"{name} ({len(keys)}): {_list(keys)}"
                    for name, keys in (("missing keys", missing), ("unexpected keys", unexpected),
                                       ("shape mismatches (file vs model)", shapes)) if keys]
        hint = ""
        if what == "backbone" and _stem_kernel(state) != _stem_kernel(own):
            hint = ("\nThe file's stem does not match the model's: torchvision checkpoints have "
                    "the standard 7×7 stem (build with stem='standard'); deep-stem checkpoints "
                    "need stem='deep'.")
        raise PretrainedWeightsError(
            f"{source}: weights do not match the {what}:\n  " + "\n  ".join(problems) + hint
        )


def load_backbone_state(backbone: ResNetBackbone, state: Mapping[str, torch.Tensor],
                        source: str) -> None:
    """Load `state` into `backbone` (every key must match; see `_check_state`)."""
    _check_state(backbone.state_dict(), state, source, "backbone")
    backbone.load_state_dict(state, strict=False)


def load_head_state(model: DeepLabV3Plus, state: Mapping[str, torch.Tensor],
                    source: str) -> None:
    """Load a whole-model file's ASPP and decoder into `model` (every key must match)."""
    own = {k: v for k, v in model.state_dict().items() if k.startswith(_HEAD_PREFIXES)}
    _check_state(own, state, source, "ASPP and decoder")
    model.load_state_dict(state, strict=False)


def load_pretrained(model: DeepLabV3Plus, pretrained: str | os.PathLike, backbone: str,
                    stem: str, head: bool = True) -> None:
    """Load pretrained weights from a local state-dict file into `model.backbone` and, when
    `head` is set and the file is a whole model of ours, into its ASPP and decoder."""
    path = Path(pretrained)
    problem = file_problem(path)
    if problem:
        raise PretrainedWeightsError(f"model.pretrained: {problem}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - corrupt or non-tensor pickles
        raise PretrainedWeightsError(f"model.pretrained: {unreadable(path, err)}") from err
    backbone_state, head_state = split_pretrained(_unwrap_state_dict(obj, str(path)))
    load_backbone_state(model.backbone, backbone_state, str(path))
    parts = "backbone"
    if head and head_state:
        load_head_state(model, head_state, str(path))
        parts = "backbone, ASPP and decoder"
    log.info("loaded pretrained %s %s (%s stem) from %s", backbone, parts, stem, path)


# --------------------------------------------------------------------------- factory


def build_model(
    backbone: str = "small", num_classes: int = 19, output_stride: int = 16,
    aspp_rates: Sequence[int] = (6, 12, 18), pretrained: str | os.PathLike | None = None,
    head_channels: int | None = None, stem: str = "deep", pretrained_head: bool = True,
    num_outputs: int | None = None,
) -> DeepLabV3Plus:
    """DeepLabV3+ for `num_classes` real classes (C): the network outputs C+1 channels,
    channel C being the undefined class, unless `num_outputs` says otherwise (C on a
    dataset without the undefined class, such as VOC). `pretrained` is a local state-dict
    file (nothing is downloaded); `pretrained_head` also takes its ASPP and decoder."""
    if backbone not in BACKBONES:
        raise ValueError(f"unknown backbone {backbone!r}; expected one of {sorted(BACKBONES)}")
    num_outputs = num_classes + 1 if num_outputs is None else int(num_outputs)
    if num_outputs < 2:
        raise ValueError(f"the model needs at least 2 outputs, got {num_outputs}")
    spec = BACKBONES[backbone]
    model = DeepLabV3Plus(
        ResNetBackbone(spec, output_stride, stem), num_outputs,
        aspp_rates, head_channels or spec.head_channels,
    )
    if pretrained is not None:
        load_pretrained(model, pretrained, backbone, stem, pretrained_head)
    return model
