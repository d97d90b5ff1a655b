"""Full-resolution features of one image, computed one band of rows at a time.

The model's decoder features are (D, h, w), a quarter of the image size. Stage 2 needs them
at full resolution (D, H, W), bilinearly upsampled and L2-normalised per pixel
(`inference.upsample_features`): 2 GiB per 1024x2048 image at D=256, float32. `Upsampled`
never holds more than one band of rows: `band(y0, y1)` crops the low-resolution rows that
band needs (plus one row of margin on each side, so that the border clamping of the full
interpolation never applies inside) and runs the same interpolation and normalisation on
them, into a reused buffer.

The crop gives bit-identical values to `upsample_features` when H / h is a power of two
(4 for the model): the source row of output row y is `(y + 0.5) * h / H - 0.5`, exact in
binary, so a crop starting `a` low rows down, with an output `(H / h) * rows` high (the same
ratio), sees every source row shifted by exactly `a`, with the same weights. Bands start at
multiples of H / h. Other sizes use one band (the whole image), as before. Columns are never
cropped: each row is computed by the same kernel loop as in the full call (cropping columns
too was measured to change the last bit).
"""

from __future__ import annotations

import torch

from actseg.inference import upsample_features

BAND_BYTES = 64 * 2**20  # float32 bytes of one band of full-resolution features


class BandBuffer:
    """Float32 scratch tensors (slots 0 and 1) grown on demand, reused across bands and
    images."""

    def __init__(self):
        self._storage: list[torch.Tensor | None] = [None, None]
        self.takes = 0  # counts every take: a band stays valid while this is unchanged

    def take(self, shape: tuple[int, ...], device: torch.device, slot: int = 0) -> torch.Tensor:
        self.takes += 1
        numel = 1
        for n in shape:
            numel *= n
        storage = self._storage[slot]
        if storage is None or storage.numel() < numel or storage.device != device:
            storage = self._storage[slot] = torch.empty(numel, dtype=torch.float32,
                                                        device=device)
        return storage[:numel].view(shape)


class Upsampled:
    """(D, H, W) features upsampled from `low` (D, h, w) on demand, band by band.

    `low` is the model's normalised feature map of one image; `size` the image's (H, W).
    `band_rows` caps a band (default: `BAND_BYTES` of float32); it is rounded to the row
    stride H / h. `buffer` may be shared across images to reuse the band's memory.
    `renormalize` L2-normalises every upsampled pixel again (`upsample_features`).
    """

    def __init__(self, low: torch.Tensor, size: tuple[int, int], band_rows: int | None = None,
                 buffer: BandBuffer | None = None, renormalize: bool = False):
        if low.dim() != 3:
            raise ValueError(f"low-resolution features must be (D, h, w), got {tuple(low.shape)}")
        self.low = low
        self.renormalize = renormalize
        self.shape = (low.shape[0], int(size[0]), int(size[1]))
        self.buffer = buffer or BandBuffer()
        height, low_h = self.shape[1], low.shape[1]
        ratio = height // low_h if height % low_h == 0 else 0
        self.stride = ratio if ratio and ratio & (ratio - 1) == 0 else height  # rows per low row
        if band_rows is None:
            band_rows = BAND_BYTES // (4 * self.shape[0] * self.shape[2])
        self.band_rows = min(height, max(self.stride, band_rows // self.stride * self.stride))
        self._last: tuple[int, int, int, torch.Tensor] | None = None  # (y0, y1, takes, band)

    @property
    def device(self) -> torch.device:
        return self.low.device

    @property
    def dtype(self) -> torch.dtype:
        return torch.float32

    def band(self, y0: int, y1: int) -> torch.Tensor:
        """(D, y1 - y0, W) features of rows y0..y1-1; y0 a multiple of `stride` (or 0).

        A view of the shared buffer: valid until the next call. Asking again for the band
        just computed (prototypes, then similarities, of an image that is one band) returns
        it without recomputing, unless the shared buffer was used since."""
        if self.stride == self.shape[1]:  # no exact crop: the whole image
            return upsample_features(self.low[None], self.shape[1:],
                                     self.renormalize)[0, :, y0:y1]
        last = self._last
        if last is not None and last[:3] == (y0, y1, self.buffer.takes):
            return last[3]
        band = self._compute_band(y0, y1)
        self._last = (y0, y1, self.buffer.takes, band)
        return band

    def _compute_band(self, y0: int, y1: int) -> torch.Tensor:
        a = max(0, y0 // self.stride - 1)  # low rows with one row of margin
        b = min(self.low.shape[1], -(-y1 // self.stride) + 1)
        up = self.buffer.take((1, self.shape[0], (b - a) * self.stride, self.shape[2]),
                              self.device)
        torch.ops.aten.upsample_bilinear2d.out(self.low[None, :, a:b].float(),
                                               list(up.shape[2:]), False, None, None, out=up)
        rows = up[:, :, y0 - a * self.stride:y1 - a * self.stride]
        out = self.buffer.take((1, *rows.shape[1:]), self.device, slot=1)  # contiguous
        if not self.renormalize:
            return out.copy_(rows)[0]
        # as F.normalize(dim=1, eps=1e-12), on the band's rows only
        norm = torch.linalg.vector_norm(rows, dim=1, keepdim=True).clamp_min_(1e-12)
        return torch.div(rows, norm, out=out)[0]

    def pixels(self, flat: torch.Tensor) -> torch.Tensor:
        """(len(flat), D) features at flat pixel ids (a few: the prototypes).

        Upsamples only the bands holding them: whole bands, or the `stride` rows around
        each pixel when fewer rows are computed that way (each costs 3 * stride rows)."""
        rows = [self.band_rows, self.stride]
        cost = [len(torch.unique(flat // (r * self.shape[2]))) * (r + 2 * self.stride)
                for r in rows]
        return _pixels_by_band(self, flat, rows[cost.index(min(cost))])


def _pixels_by_band(source, flat: torch.Tensor, rows: int) -> torch.Tensor:
    """(len(flat), D) features at flat pixel ids, computed `rows` rows at a time."""
    out = torch.empty(len(flat), source.shape[0], dtype=source.dtype, device=flat.device)
    band_pixels = rows * source.shape[2]
    band_of = flat // band_pixels
    for b in torch.unique(band_of).tolist():  # a loop over bands, not pixels
        members = torch.nonzero(band_of == b).squeeze(1)
        band = source.band(b * rows, min(source.shape[1], (b + 1) * rows))
        out[members] = band.reshape(source.shape[0], -1)[:, flat[members] - b * band_pixels].T
    return out


class Resident:
    """The `Upsampled` interface over features already held at full resolution (D, H, W):
    one band, the whole image, a view (the behaviour before banding)."""

    def __init__(self, features: torch.Tensor):
        self.features = features
        self.shape = tuple(features.shape)
        self.band_rows = max(1, self.shape[1])

    @property
    def device(self) -> torch.device:
        return self.features.device

    @property
    def dtype(self) -> torch.dtype:
        return self.features.dtype

    def band(self, y0: int, y1: int) -> torch.Tensor:
        return self.features[:, y0:y1]

    def pixels(self, flat: torch.Tensor) -> torch.Tensor:
        return self.features.reshape(self.shape[0], -1).index_select(1, flat).T


def banded(features) -> Upsampled | Resident:
    """`features` as a band source: an `Upsampled` as is, a (D, H, W) tensor as `Resident`."""
    return features if isinstance(features, (Upsampled, Resident)) else Resident(features)
