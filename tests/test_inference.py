"""Batched full-resolution inference: batching by size, order, logits and features."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from fakes import ArrayDataset

from actseg.inference import predict, resolve_switch, size_batches, upsample_features
from actseg.model import build_model
from actseg.transforms import normalize_image


def test_size_batches_groups_consecutive_equal_sizes():
    sizes = [(4, 4), (4, 4), (4, 4), (2, 2), (4, 4), (4, 4)]
    assert size_batches(sizes, 2) == [[0, 1], [2], [3], [4, 5]]
    assert size_batches(sizes, 8) == [[0, 1, 2], [3], [4, 5]]
    assert size_batches([], 3) == []


def test_resolve_switch():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_switch("auto", cpu) is False and resolve_switch("auto", cuda) is True
    assert resolve_switch("on", cpu) is True and resolve_switch("off", cuda) is False
    with pytest.raises(ValueError):
        resolve_switch("maybe", cpu)


def test_training_auto_follows_native_cpu_bf16(monkeypatch):
    from actseg import inference

    cpu = torch.device("cpu")
    for native in (True, False):
        monkeypatch.setattr(inference, "native_bf16_cpu", lambda native=native: native)
        assert resolve_switch("auto", cpu, cpu_auto=True) is native
        assert resolve_switch("auto", cpu) is False  # inference keeps fp32 on CPU
        assert resolve_switch("off", cpu, cpu_auto=True) is False
    assert isinstance(inference.native_bf16_cpu(), bool)


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return build_model(backbone="small", num_classes=3, aspp_rates=(1, 2, 3)).eval()


def test_predict_matches_direct_forward(tiny_model):
    rng = np.random.default_rng(0)
    shapes = [(32, 48), (32, 48), (40, 40), (32, 48)]
    images = [rng.integers(0, 256, size=s + (3,), dtype=np.uint8) for s in shapes]
    ds = ArrayDataset(images)
    seen = []
    for batch, logits, feats in predict(tiny_model, ds, [3, 0, 1, 2], batch_size=2,
                                        device="cpu", amp="off", return_features=True,
                                        progress=False):
        seen.append(batch)
        h, w = shapes[batch[0]]
        assert logits.shape == (len(batch), 4, h, w) and logits.dtype == torch.float32
        assert feats.shape == (len(batch), tiny_model.feature_channels, h // 4, w // 4)
        x = torch.stack([normalize_image(images[i]) for i in batch])
        with torch.no_grad():
            ref_logits, ref_feats = tiny_model(x, return_features=True)
        torch.testing.assert_close(logits, ref_logits, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(feats, ref_feats, rtol=1e-4, atol=1e-5)
        reference = F.interpolate(ref_feats, size=(h, w), mode="bilinear", align_corners=False)
        up = upsample_features(feats, (h, w))  # not normalised again (the authors' code)
        torch.testing.assert_close(up, reference, rtol=1e-4, atol=1e-5)
        up = upsample_features(feats, (h, w), renormalize=True)
        torch.testing.assert_close(up, F.normalize(reference, dim=1), rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(up.norm(dim=1), torch.ones(len(batch), h, w))
        assert logits.requires_grad is False
        logits.mul_(2)  # callers may modify outputs in place (not inference tensors)
    assert seen == [[3, 0], [1], [2]]
    assert torch.is_grad_enabled()


def test_upsample_features_renormalize_by_hand():
    """Unit vectors (1, 0) and (0, 1) side by side: the midpoint of a 1x2 -> 1x4 bilinear
    upsampling is shorter than 1 unless renormalised."""
    feats = torch.tensor([[[[1.0, 0.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2)
    plain = upsample_features(feats, (1, 4))
    # align_corners=False: x = 0.25 between the two source pixels at 0 and 1
    torch.testing.assert_close(plain[0, :, 0, 1], torch.tensor([0.75, 0.25]))
    assert plain[0, :, 0, 1].norm() < 1
    again = upsample_features(feats, (1, 4), renormalize=True)
    torch.testing.assert_close(again.norm(dim=1), torch.ones(1, 1, 4))
    torch.testing.assert_close(again[0, :, 0, 1], torch.tensor([0.75, 0.25]) / 0.790569415)


def test_predict_without_features(tiny_model):
    ds = ArrayDataset([np.zeros((16, 16, 3), dtype=np.uint8)])
    (batch, logits, feats), = list(predict(tiny_model, ds, [0], device="cpu", progress=False))
    assert batch == [0] and feats is None and logits.shape == (1, 4, 16, 16)


class OutOfMemoryAbove(torch.nn.Module):
    """A model whose forward runs out of memory on batches larger than `limit` images."""

    def __init__(self, limit: int, cpu_message: bool = False):
        super().__init__()
        self.limit, self.cpu_message, self.calls = limit, cpu_message, []

    def forward(self, x):
        self.calls.append(len(x))
        if len(x) > self.limit:
            if self.cpu_message:
                raise RuntimeError("[enforce fail at alloc_cpu.cpp:121] DefaultCPUAllocator: "
                                   "can't allocate memory: you tried to allocate 1 bytes")
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 74 GiB")
        return x[:, :2]


@pytest.mark.parametrize("cpu_message", [False, True])
def test_batches_that_run_out_of_memory_are_split(caplog, cpu_message):
    ds = ArrayDataset([np.full((8, 8, 3), i, dtype=np.uint8) for i in range(5)])
    model = OutOfMemoryAbove(2, cpu_message)
    got = list(predict(model, ds, range(5), batch_size=5, device="cpu", progress=False,
                       setting="pseudo.batch_size"))
    assert [b for b, _, _ in got] == [[0, 1], [2, 3], [4]]
    assert model.calls == [5, 2, 2, 1]
    assert "set pseudo.batch_size to 2 or less" in caplog.text


def test_one_image_out_of_memory_is_a_clear_error():
    ds = ArrayDataset([np.zeros((8, 8, 3), dtype=np.uint8)] * 2)
    with pytest.raises(MemoryError, match=r"8x8 image on cpu, even at evaluate.batch_size = 1"):
        list(predict(OutOfMemoryAbove(0), ds, [0, 1], batch_size=2, device="cpu",
                     progress=False, setting="evaluate.batch_size"))


def test_other_runtime_errors_pass_through():
    class Broken(torch.nn.Module):
        def forward(self, x):
            raise RuntimeError("shape mismatch")

    ds = ArrayDataset([np.zeros((8, 8, 3), dtype=np.uint8)])
    with pytest.raises(RuntimeError, match="shape mismatch"):
        list(predict(Broken(), ds, [0], device="cpu", progress=False))
