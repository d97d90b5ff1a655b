"""Drawing toolkit of the synthetic city: camera, canvas and vectorised shape masks.

A street seen from a car. The camera is 1 unit above a flat ground plane, looks along the
street and has focal length `f` px; a point at lateral offset `u`, height `Y` and depth `Z`
appears at x = x_v + f·u/Z, y = y_h + f·(1 - Y)/Z, so `s = f/Z` is the pixel size of one
unit at that depth. Every painted part records a Cityscapes label id, a material name
(colour and texture family, see actseg.synth.render) and the surface whose coordinates its texture
follows; later paint occludes earlier paint. Shapes come from coordinate grids or
skimage.draw, never from loops over pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from skimage import draw

from actseg.datasets.cityscapes import LABEL_IDS

# Surfaces whose coordinates textures follow (stripes in perspective on ground and facades).
IMAGE, GROUND, LEFT_FACADE, RIGHT_FACADE = 0, 1, 2, 3


@dataclass
class View:
    """Camera of one image: size, horizon row, vanishing column, focal length (px)."""

    height: int
    width: int
    horizon: float
    vanish_x: float
    focal: float

    @property
    def z_near(self) -> float:
        """Depth of the ground seen at the bottom row."""
        return self.focal / (self.height - self.horizon)

    def z_far(self, min_scale: float = 1.5) -> float:
        """Depth at which one unit shrinks to `min_scale` px."""
        return self.focal / min_scale


@dataclass
class Canvas:
    """Label ids, material instance per pixel and the instances' materials and surfaces."""

    view: View
    label: np.ndarray = field(init=False)
    instance: np.ndarray = field(init=False)
    materials: list[str] = field(default_factory=list)
    surfaces: list[int] = field(default_factory=list)
    facade_u: dict[int, float] = field(default_factory=dict)  # lateral u of each facade side

    def __post_init__(self) -> None:
        shape = (self.view.height, self.view.width)
        self.label = np.zeros(shape, np.uint8)
        self.instance = np.zeros(shape, np.int32)
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
        self.yy, self.xx = yy + 0.5, xx + 0.5  # pixel centres
        rows_below = np.maximum(self.yy - self.view.horizon, 1e-3)
        self._ground = ((self.xx - self.view.vanish_x) / rows_below,
                        self.view.focal / rows_below, self.yy > self.view.horizon)

    def ground(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, Z, below-horizon mask) of the ground point seen at every pixel."""
        return self._ground

    def ground_band(self, u0: float, u1: float, z0: float = 0.0, z1: float = np.inf):
        """Mask of the ground strip u0 <= u < u1 between depths z0 and z1."""
        lateral, depth, below = self.ground()
        return below & (lateral >= u0) & (lateral < u1) & (depth >= z0) & (depth < z1)

    def plane_columns(self, u: float, z0: float, z1: float) -> slice:
        """Columns covered by the vertical plane at lateral u between depths z0 and z1."""
        view = self.view
        x0, x1 = sorted((view.vanish_x + view.focal * u / z0, view.vanish_x + view.focal * u / z1))
        c0 = int(np.clip(np.floor(x0), 0, view.width))
        return slice(c0, int(np.clip(np.ceil(x1), c0, view.width)))

    def plane(self, u: float, z0: float, z1: float, h0: float, h1: float) -> np.ndarray:
        """Mask of a vertical plane along the street at lateral u, depths [z0, z1), heights
        [h0, h1] (a facade, wall, fence or hedge); computed only in its columns."""
        view = self.view
        cols = self.plane_columns(u, z0, z1)
        mask = np.zeros((view.height, view.width), bool)
        scale = (self.xx[:, cols] - view.vanish_x) / u  # pixels per unit in each column
        valid = scale > 1e-3
        depth = view.focal / np.where(valid, scale, 1.0)
        yy = self.yy[:, cols]
        mask[:, cols] = (valid & (depth >= z0) & (depth < z1)
                         & (yy >= view.horizon + (1.0 - h1) * scale)
                         & (yy <= view.horizon + (1.0 - h0) * scale))
        return mask

    def facade_coords(self, u: float) -> tuple[np.ndarray, np.ndarray]:
        """(depth along the street, height) of the plane at lateral u seen at every pixel."""
        view = self.view
        scale = np.maximum((self.xx - view.vanish_x) / u, 0.3)
        return view.focal / scale, 1.0 - (self.yy - view.horizon) / scale

    def new_instance(self, material: str, surface: int = IMAGE) -> int:
        self.materials.append(material)
        self.surfaces.append(surface)
        return len(self.materials) - 1

    def paint(self, where, label: str, material: str | int, surface: int = IMAGE) -> int:
        """Paint `where` (mask, index arrays or slices) with a label and a material instance.

        `material` is a material name (a new instance) or an existing instance id (parts of
        one object sharing its colour). Returns the instance id.
        """
        inst = material if isinstance(material, int) else self.new_instance(material, surface)
        self.label[where] = LABEL_IDS[label]
        self.instance[where] = inst
        return inst


# ---------------------------------------------------------------------------------------
# Geometry helpers: masks and index arrays in image coordinates.


def rect(view: View, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice]:
    """Slices of an axis-aligned box, at least one pixel wide and high (thin poles stay)."""
    c0, r0 = int(np.floor(x0)), int(np.floor(y0))
    c1, r1 = max(int(np.ceil(x1)), c0 + 1), max(int(np.ceil(y1)), r0 + 1)
    clip = lambda v, hi: min(max(v, 0), hi)  # noqa: E731
    return (slice(clip(r0, view.height), clip(r1, view.height)),
            slice(clip(c0, view.width), clip(c1, view.width)))


def ellipse(view: View, cx: float, cy: float, rx: float, ry: float, rotation: float = 0.0):
    return draw.ellipse(cy, cx, max(ry, 0.6), max(rx, 0.6), (view.height, view.width),
                        rotation)


def polygon(view: View, xs, ys):
    return draw.polygon(np.asarray(ys, float), np.asarray(xs, float), (view.height, view.width))


def ring(view: View, cx: float, cy: float, radius: float, thickness: float):
    """Index arrays of an annulus (a wheel seen from the side)."""
    rr, cc = ellipse(view, cx, cy, radius, radius)
    dist = np.hypot(rr + 0.5 - cy, cc + 0.5 - cx)
    keep = dist >= radius - max(thickness, 0.8)
    return rr[keep], cc[keep]


def thick_line(view: View, x0, y0, x1, y1, width: float):
    """A segment `width` px wide (a one-pixel line when thinner)."""
    if width <= 1.2:
        rr, cc = draw.line(int(round(y0)), int(round(x0)), int(round(y1)), int(round(x1)))
        keep = (rr >= 0) & (rr < view.height) & (cc >= 0) & (cc < view.width)
        return rr[keep], cc[keep]
    nx, ny = y1 - y0, -(x1 - x0)
    norm = max(np.hypot(nx, ny), 1e-6)
    ox, oy = nx / norm * width / 2, ny / norm * width / 2
    return polygon(view, [x0 + ox, x1 + ox, x1 - ox, x0 - ox], [y0 + oy, y1 + oy, y1 - oy, y0 - oy])


@dataclass
class Placement:
    """An upright object at ground point (u, Z): converts object units to pixels."""

    view: View
    u: float
    depth: float

    @property
    def s(self) -> float:
        return self.view.focal / self.depth

    def x(self, du: float) -> float:
        return self.view.vanish_x + (self.u + du) * self.s

    def y(self, height: float) -> float:
        return self.view.horizon + (1.0 - height) * self.s

    def box(self, du0: float, du1: float, h0: float, h1: float):
        return rect(self.view, self.x(du0), self.x(du1), self.y(h1), self.y(h0))

    def oval(self, du: float, h: float, rdu: float, rh: float, rotation: float = 0.0):
        return ellipse(self.view, self.x(du), self.y(h), rdu * self.s, rh * self.s, rotation)

    def poly(self, dus, hs):
        return polygon(self.view, [self.x(d) for d in dus], [self.y(h) for h in hs])

    def wheel(self, du: float, radius: float, thickness: float):
        return ring(self.view, self.x(du), self.y(radius), radius * self.s, thickness * self.s)

    def line(self, du0, h0, du1, h1, width: float):
        return thick_line(self.view, self.x(du0), self.y(h0), self.x(du1), self.y(h1),
                          max(width * self.s, 1.0))
