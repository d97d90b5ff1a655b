"""Scene layout of the synthetic city: the street, its sides and the objects on it.

`compose_scene(rng, height, width, forced)` returns a `Canvas` holding Cityscapes label ids
(void ids included) and material instances. Frequencies follow Cityscapes loosely: road,
buildings, vegetation and sky cover most pixels; poles, signs and lights are thin; riders,
motorcycles and trains are rare. One rare class per image is `forced` (chosen by image index)
so that every split of a few images contains all 19 evaluated classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from actseg.datasets.cityscapes import LABEL_IDS
from actseg.synth.draw import (
    GROUND,
    LEFT_FACADE,
    RIGHT_FACADE,
    Canvas,
    Placement,
    View,
    ellipse,
    polygon,
    rect,
)
from actseg.synth import objects

LABEL_OUT_OF_ROI = LABEL_IDS["out of roi"]
RARE_FORCED = ("train", "motorcycle", "rider", "bus", "truck", "traffic light", "wall",
               "fence", "bicycle")


@dataclass
class Street:
    """Lateral layout (in camera heights): road [road_left, road_right], then per side a
    sidewalk, an optional terrain strip and the facade plane; `kinds` are "buildings"/"park"."""

    road_left: float
    road_right: float
    sidewalk: tuple[float, float]
    terrain: tuple[float, float]
    kinds: tuple[str, str]

    def facade(self, side: int) -> float:
        """Lateral u of the facade plane of side 0 (left) or 1 (right)."""
        if side == 0:
            return self.road_left - self.sidewalk[0] - self.terrain[0]
        return self.road_right + self.sidewalk[1] + self.terrain[1]

    def sidewalk_span(self, side: int) -> tuple[float, float]:
        if side == 0:
            return self.road_left - self.sidewalk[0], self.road_left
        return self.road_right, self.road_right + self.sidewalk[1]


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


# ---------------------------------------------------------------------------------------
# The static scene: sky, far skyline, ground bands, facades.


def random_view(rng: np.random.Generator, height: int, width: int) -> View:
    return View(height, width, horizon=height * rng.uniform(0.3, 0.48),
                vanish_x=width * rng.uniform(0.3, 0.7), focal=width * rng.uniform(0.9, 1.3))


def random_street(rng: np.random.Generator) -> Street:
    def side_width(p_none: float, low: float, high: float) -> float:
        return 0.0 if rng.random() < p_none else float(rng.uniform(low, high))

    kinds = tuple("park" if rng.random() < 0.22 else "buildings" for _ in range(2))
    return Street(
        road_left=-rng.uniform(1.5, 4.0), road_right=rng.uniform(1.5, 4.5),
        sidewalk=(side_width(0.1, 1.0, 3.0), side_width(0.1, 1.0, 3.0)),
        terrain=tuple(side_width(0.0 if k == "park" else 0.6, 0.6, 3.0) for k in kinds),
        kinds=kinds,
    )


def paint_sky_and_skyline(canvas: Canvas, rng: np.random.Generator) -> None:
    view = canvas.view
    canvas.paint(np.s_[:, :], "sky", "sky")
    x = rng.uniform(-10, 0)
    while x < view.width:  # distant blocks and tree tops sitting on the horizon
        span = rng.uniform(4, 30)
        top = view.horizon - rng.uniform(1, 0.2 * view.height)
        if rng.random() < 0.3:
            canvas.paint(_ellipse_row(view, x, span, top), "vegetation", "vegetation")
        elif rng.random() < 0.85:
            canvas.paint(rect(view, x, x + span, top, view.horizon + 1), "building", "building")
        x += span


def _ellipse_row(view: View, x: float, span: float, top: float):
    return ellipse(view, x + span / 2, view.horizon, span / 2, view.horizon - top)


def paint_ground(canvas: Canvas, street: Street, rng: np.random.Generator) -> None:
    """Ground bands: terrain/ground beyond the sides, sidewalks with curbs, road, markings."""
    lateral, _, below = canvas.ground()
    beyond = "terrain" if rng.random() < 0.5 else "ground"
    canvas.paint(below, beyond, "terrain" if beyond == "terrain" else "ground", GROUND)
    for side, sign in ((0, -1.0), (1, 1.0)):
        lo, hi = street.sidewalk_span(side)
        if street.terrain[side] > 0:
            edge = lo if side == 0 else hi
            canvas.paint(canvas.ground_band(*sorted((edge, edge + sign * street.terrain[side]))),
                         "terrain", "terrain", GROUND)
        if hi > lo:
            canvas.paint(canvas.ground_band(lo, hi), "sidewalk", "sidewalk", GROUND)
            curb = (street.road_left - 0.08, street.road_left) if side == 0 else (
                street.road_right, street.road_right + 0.08)
            canvas.paint(canvas.ground_band(*curb), "sidewalk", "curb", GROUND)
    canvas.paint(canvas.ground_band(street.road_left, street.road_right), "road", "road", GROUND)
    paint_road_details(canvas, street, rng)


def paint_road_details(canvas: Canvas, street: Street, rng: np.random.Generator) -> None:
    """Lane markings, a crosswalk, patches, parking and ground patches by the road."""
    lateral, depth, below = canvas.ground()
    view = canvas.view
    phase = rng.uniform(0, 2 * np.pi)
    dash_period = rng.uniform(4, 9)
    dashes = np.sin(2 * np.pi * depth / dash_period + phase) > 0
    for u in np.arange(street.road_left + 2.3, street.road_right - 1.0, 2.3):
        canvas.paint(below & (np.abs(lateral - u) < 0.06) & dashes, "road", "marking", GROUND)
    if rng.random() < 0.25:
        z0 = view.z_near * rng.uniform(1.2, 4.0)
        stripes = np.sin(2 * np.pi * lateral / 0.7) > 0.1
        canvas.paint(canvas.ground_band(street.road_left, street.road_right, z0, z0 + 2.5)
                     & stripes, "road", "marking", GROUND)
    for _ in range(rng.poisson(1.2)):  # repaired asphalt, manholes: road in another material
        u = rng.uniform(street.road_left, street.road_right)
        z0 = log_uniform(rng, view.z_near, view.z_far(4))
        patch = canvas.ground_band(u - rng.uniform(0.3, 1.5), u, z0, z0 * rng.uniform(1.1, 1.6))
        canvas.paint(patch, "road", "road", GROUND)
    for label, material, prob in (("parking", "sidewalk", 0.2), ("ground", "ground", 0.2)):
        if rng.random() < prob:
            side = rng.integers(2)
            u = street.road_left if side == 0 else street.road_right
            inner = (u, u + 1.2) if side == 0 else (u - 1.2, u)
            z0 = view.z_near * rng.uniform(1.0, 5.0)
            canvas.paint(canvas.ground_band(*inner, z0, z0 * rng.uniform(1.5, 4.0)), label,
                         material, GROUND)


def paint_sides(canvas: Canvas, street: Street, rng: np.random.Generator,
                forced: str | None) -> None:
    """Facades (buildings with windows, gaps), hedges, walls and fences along both sides."""
    for side, surface in ((0, LEFT_FACADE), (1, RIGHT_FACADE)):
        u = street.facade(side)
        canvas.facade_u[surface] = u
        if street.kinds[side] == "buildings":
            paint_buildings(canvas, u, surface, rng)
        side_forced = forced if forced in ("wall", "fence") and side == 0 else None
        paint_barriers(canvas, street, side, surface, rng, side_forced)


def _depth_range(canvas: Canvas, u: float) -> tuple[float, float]:
    """Depths where a plane at lateral u enters the image (near edge) and becomes tiny."""
    view = canvas.view
    edge_x = 0.0 if u < 0 else view.width
    z_edge = view.focal * u / (edge_x - view.vanish_x)
    return max(min(z_edge, view.z_near), 0.5) * 0.7, view.z_far(1.0)


def paint_buildings(canvas: Canvas, u: float, surface: int, rng: np.random.Generator) -> None:
    depth, z_end = _depth_range(canvas, u)
    along, height = canvas.facade_coords(u)
    while depth < z_end:
        length = rng.uniform(4, 14)
        if rng.random() > 0.12:  # else a gap: the sky and skyline show through
            storeys = rng.uniform(4, 16)
            body = canvas.plane(u, depth, depth + length, 0.0, storeys)
            canvas.paint(body, "building", "building", surface)
            cols = np.s_[:, canvas.plane_columns(u, depth, depth + length)]
            rel_along, rel_height = along[cols] - depth, height[cols]
            bay, floor = rng.uniform(1.0, 2.2), rng.uniform(1.6, 2.4)
            windows = np.zeros_like(body)
            windows[cols] = (body[cols] & (np.mod(rel_along, bay) < bay * rng.uniform(0.4, 0.7))
                             & (np.mod(rel_height, floor) > floor * 0.35) & (rel_height > 2.0)
                             & (rel_height < storeys - 0.6))
            if rng.random() < 0.4:  # shop fronts on the ground floor
                windows[cols] |= (body[cols] & (rel_height > 0.3) & (rel_height < 1.6)
                                  & (np.mod(rel_along, bay * 2) < bay * 1.5))
            canvas.paint(windows, "building", "glass", surface)
        depth += length


def paint_barriers(canvas: Canvas, street: Street, side: int, surface: int,
                   rng: np.random.Generator, forced: str | None) -> None:
    """Runs of wall, fence, hedge or guard rail along the side's facade or sidewalk edge."""
    z_start, z_end = _depth_range(canvas, street.facade(side))
    kinds = [("wall", 0.25), ("fence", 0.3), ("vegetation", 0.45), ("guard rail", 0.05)]
    for label, prob in kinds:
        if not (rng.random() < prob or label == forced):
            continue
        u = street.facade(side) * rng.uniform(0.9, 1.0) if label != "guard rail" else (
            street.road_left - 0.1 if side == 0 else street.road_right + 0.1)
        z0 = log_uniform(rng, z_start, z_start * 4) if label != forced else z_start
        z1 = z0 * rng.uniform(1.5, 6.0)
        top = {"wall": rng.uniform(0.6, 2.0), "fence": rng.uniform(0.6, 1.6),
               "vegetation": rng.uniform(0.4, 1.3), "guard rail": 0.55}[label]
        bottom = 0.3 if label == "guard rail" else 0.0
        material = {"vegetation": "vegetation", "guard rail": "metal"}.get(label, label)
        canvas.paint(canvas.plane(u, z0, z1, bottom, top), label, material, surface)


# ---------------------------------------------------------------------------------------
# Objects on the ground, painted far to near.


def _sidewalk_u(street: Street, rng: np.random.Generator) -> float:
    """A lateral position on a sidewalk (or on the terrain strip when there is none)."""
    side = int(rng.integers(2))
    lo, hi = street.sidewalk_span(side)
    if hi - lo < 0.4:
        lo, hi = sorted((street.facade(side), lo if side == 0 else hi))
    return float(rng.uniform(lo, hi)) if hi > lo else (lo + hi) / 2


def _road_u(street: Street, rng: np.random.Generator, parked: bool = False) -> float:
    lo, hi = street.road_left + 0.75, street.road_right - 0.75
    if parked:
        return lo if rng.random() < 0.5 else hi
    return float(rng.uniform(lo, hi)) if hi > lo else (lo + hi) / 2


def plan_objects(view: View, street: Street, rng: np.random.Generator,
                 forced: str | None) -> list[tuple[float, float, object, dict]]:
    """(depth, u, draw function, kwargs) of every object in the scene, unsorted."""
    plan: list[tuple[float, float, object, dict]] = []

    def add(draw, u: float, count: int, prominent: bool = False, far: bool = False,
            **kwargs) -> None:
        """`prominent`: near enough to be seen well; `far`: not too near (long vehicles)."""
        low = view.z_near * (5.0 if far else 2.5 if prominent else 1.15)
        high = view.z_near * 12.0 if prominent else view.z_far(2.0)
        for _ in range(count):
            depth = log_uniform(rng, low, max(high, low * 1.01))
            plan.append((depth, u() if callable(u) else u, draw, kwargs))

    is_forced = lambda *names: int(forced in names)  # noqa: E731
    road = lambda: _road_u(street, rng, parked=rng.random() < 0.35)  # noqa: E731
    sidewalk = lambda: _sidewalk_u(street, rng)  # noqa: E731
    edge = lambda: _road_u(street, rng, parked=True)  # noqa: E731
    add(objects.car, road, rng.poisson(3.5))
    add(objects.truck, road, rng.poisson(0.12))
    add(objects.truck, road, is_forced("truck"), prominent=True)
    add(objects.bus, road, rng.poisson(0.08))
    add(objects.bus, road, is_forced("bus"), prominent=True)
    add(objects.train, road, int(rng.random() < 0.03) + is_forced("train"), prominent=True,
        far=True)
    add(objects.person, sidewalk, rng.poisson(4.5))
    add(objects.person, road, rng.poisson(0.4))
    add(objects.bicycle, edge, rng.poisson(0.15))
    add(objects.bicycle, edge, is_forced("rider", "bicycle"), prominent=True)
    add(objects.bicycle, sidewalk, rng.poisson(0.8), with_rider=False)
    add(objects.motorcycle, edge, int(rng.random() < 0.05))
    add(objects.motorcycle, edge, is_forced("motorcycle"), prominent=True)
    add(objects.motorcycle, sidewalk, int(rng.random() < 0.04), with_rider=False)
    for attach, count in (("traffic sign", rng.poisson(2.5)), ("traffic light", rng.poisson(1.2)),
                          ("lamp", rng.poisson(0.8)), (None, rng.poisson(1.5))):
        add(objects.pole, sidewalk, count, attach=attach)
    add(objects.pole, sidewalk, is_forced("traffic light"), prominent=True, attach="traffic light")
    for side in (0, 1):
        count = rng.poisson(2.5) if street.kinds[side] == "buildings" else 5 + rng.poisson(5)
        lo, hi = sorted((street.facade(side), street.sidewalk_span(side)[side]))
        add(objects.tree, lambda: rng.uniform(lo, hi) if hi > lo else lo, count)
    add(objects.clutter, sidewalk, rng.poisson(1.2))
    add(objects.clutter, sidewalk, rng.poisson(0.2), label="dynamic")
    add(objects.vehicle_void, road, int(rng.random() < 0.03))
    return plan


def paint_objects(canvas: Canvas, street: Street, rng: np.random.Generator,
                  forced: str | None) -> None:
    plan = plan_objects(canvas.view, street, rng, forced)
    order = sorted(range(len(plan)), key=lambda i: -plan[i][0])  # far first
    for i in order:
        depth, u, draw, kwargs = plan[i]
        draw(canvas, Placement(canvas.view, u, depth), rng, **kwargs)


# ---------------------------------------------------------------------------------------
# Void overlays and the whole scene.


def paint_void_overlays(canvas: Canvas, rng: np.random.Generator) -> None:
    """Ego-vehicle hood, rectification border (drawn) and out-of-roi strips (label only)."""
    view = canvas.view
    if rng.random() < 0.35:
        drop = view.height * rng.uniform(0.05, 0.25)
        reach = view.height * rng.uniform(0.04, 0.14)
        hood = ellipse(view, view.width * rng.uniform(0.4, 0.6), view.height + drop,
                       view.width * rng.uniform(0.6, 0.9), drop + reach)
        canvas.paint(hood, "ego vehicle", "ego_hood")
    if rng.random() < 0.08:
        corner = view.width * rng.uniform(0.03, 0.08)
        for x0, x1 in ((0.0, corner), (view.width, view.width - corner)):
            canvas.paint(polygon_corner(view, x0, x1), "rectification border", "black")
    if rng.random() < 0.3:
        rows = int(rng.integers(2, max(3, view.height // 16)))
        cols = int(rng.integers(1, max(2, view.width // 40)))
        canvas.label[-rows:, :] = LABEL_OUT_OF_ROI
        canvas.label[:, :cols] = LABEL_OUT_OF_ROI
        canvas.label[:, -cols:] = LABEL_OUT_OF_ROI


def polygon_corner(view: View, x0: float, x1: float):
    return polygon(view, [x0, x1, x0], [view.height, view.height, view.height - abs(x1 - x0)])


def compose_scene(rng: np.random.Generator, height: int, width: int,
                  forced: str | None = None) -> Canvas:
    """One random street scene; `forced` (one of RARE_FORCED) is guaranteed to appear."""
    view = random_view(rng, height, width)
    canvas = Canvas(view)
    street = random_street(rng)
    paint_sky_and_skyline(canvas, rng)
    paint_ground(canvas, street, rng)
    paint_sides(canvas, street, rng, forced)
    paint_objects(canvas, street, rng, forced)
    paint_void_overlays(canvas, rng)
    return canvas
