"""Upright objects of the synthetic city, each drawn at one ground point (`Placement`).

Sizes are in camera heights (1 unit ≈ 1.5 m); `du` is the lateral offset from the object's
centre and `h` the height above the ground. Parts of one object share a material instance
where the real object shares a colour (a car's body and cabin), and use other materials
where it does not (glass, tyres, lights): a class is a mix of appearances.
"""

from __future__ import annotations

import numpy as np

from actseg.synth.draw import Canvas, Placement


def car(canvas: Canvas, at: Placement, rng: np.random.Generator) -> None:
    half = rng.uniform(0.55, 0.68)
    paint = canvas.new_instance("car_paint")
    if rng.random() < 0.8:  # seen from behind or in front
        canvas.paint(at.box(-half, half, 0.18, 0.72), "car", paint)
        roof = rng.uniform(0.95, 1.1)
        canvas.paint(at.poly([-half * 0.9, half * 0.9, half * 0.7, -half * 0.7],
                             [0.72, 0.72, roof, roof]), "car", paint)
        canvas.paint(at.poly([-half * 0.78, half * 0.78, half * 0.64, -half * 0.64],
                             [0.76, 0.76, roof - 0.04, roof - 0.04]), "car", "glass")
        for sign in (-1, 1):
            canvas.paint(at.box(sign * half - 0.15 * (1 + sign), sign * half + 0.15 * (1 - sign),
                                0.0, 0.24), "car", "tyre")
            canvas.paint(at.box(sign * (half - 0.06) - 0.08, sign * (half - 0.06) + 0.08,
                                0.5, 0.62), "car", "lamp")
        canvas.paint(at.box(-0.16, 0.16, 0.3, 0.4), "car", "plate")
    else:  # crossing, seen from the side
        length = rng.uniform(1.3, 1.6)
        canvas.paint(at.box(-length, length, 0.18, 0.72), "car", paint)
        canvas.paint(at.poly([-length * 0.6, length * 0.5, length * 0.3, -length * 0.4],
                             [0.72, 0.72, 1.05, 1.05]), "car", paint)
        canvas.paint(at.poly([-length * 0.52, length * 0.42, length * 0.26, -length * 0.34],
                             [0.75, 0.75, 1.0, 1.0]), "car", "glass")
        for du in (-length * 0.65, length * 0.65):
            canvas.paint(at.oval(du, 0.2, 0.2, 0.2), "car", "tyre")


def truck(canvas: Canvas, at: Placement, rng: np.random.Generator) -> None:
    body = canvas.new_instance("truck_paint")
    top = rng.uniform(1.9, 2.6)
    if rng.random() < 0.6:  # from behind: cargo box over a dark chassis
        canvas.paint(at.box(-0.85, 0.85, 0.12, 0.45), "truck", "tyre")
        canvas.paint(at.box(-0.85, 0.85, 0.4, top), "truck", body)
        canvas.paint(at.box(-0.8, 0.8, 0.42, 0.52), "truck", "metal")
    else:  # from the side: cargo box, cab with a window, three wheels
        canvas.paint(at.box(-2.8, 1.1, 0.4, top), "truck", body)
        canvas.paint(at.box(1.1, 2.4, 0.3, 1.9), "truck", canvas.new_instance("truck_paint"))
        canvas.paint(at.box(1.5, 2.3, 1.2, 1.75), "truck", "glass")
        for du in (-2.2, -1.5, 1.8):
            canvas.paint(at.oval(du, 0.3, 0.3, 0.3), "truck", "tyre")


def bus(canvas: Canvas, at: Placement, rng: np.random.Generator) -> None:
    body = canvas.new_instance("bus_paint")
    if rng.random() < 0.5:
        canvas.paint(at.box(-0.85, 0.85, 0.15, 2.1), "bus", body)
        canvas.paint(at.box(-0.72, 0.72, 1.25, 1.9), "bus", "glass")
        canvas.paint(at.box(-0.6, 0.6, 0.45, 0.6), "bus", "plate")
    else:
        half = rng.uniform(3.5, 4.5)
        canvas.paint(at.box(-half, half, 0.2, 2.1), "bus", body)
        canvas.paint(at.box(-half + 0.3, half - 0.3, 1.2, 1.85), "bus", "glass")
        for du in np.arange(-half + 1.2, half - 0.5, 1.3):  # window pillars
            canvas.paint(at.box(du, du + 0.12, 1.2, 1.85), "bus", body)
        for du in (-half + 1.0, half - 1.2):
            canvas.paint(at.oval(du, 0.3, 0.3, 0.3), "bus", "tyre")


def train(canvas: Canvas, at: Placement, rng: np.random.Generator) -> None:
    """A tram crossing the street on a rail track (or coming head-on along it)."""
    body = canvas.new_instance("train_paint")
    if rng.random() < 0.6:
        half = rng.uniform(4, 9)
        canvas.paint(at.box(-half - 2, half + 2, -0.15, 0.08), "rail track", "rail")
        canvas.paint(at.box(-half, half, 0.3, 2.6), "train", body)
        canvas.paint(at.box(-half + 0.4, half - 0.4, 1.4, 2.1), "train", "glass")
        for du in np.arange(-half + 1.5, half - 0.5, 1.6):
            canvas.paint(at.box(du, du + 0.15, 1.4, 2.1), "train", body)
        canvas.paint(at.box(-half, half, 0.1, 0.35), "train", "metal")
    else:
        canvas.paint(at.box(-1.3, 1.3, 0.25, 2.7), "train", body)
        canvas.paint(at.box(-1.1, 1.1, 1.5, 2.4), "train", "glass")
        canvas.paint(at.box(-1.2, 1.2, 0.25, 0.5), "train", "metal")


def person(canvas: Canvas, at: Placement, rng: np.random.Generator,
           label: str = "person") -> None:
    tall = rng.uniform(0.85, 1.15) * (0.6 if rng.random() < 0.1 else 1.0)
    stride = rng.uniform(0.0, 0.12)
    legs, torso = canvas.new_instance("clothing"), canvas.new_instance("clothing")
    canvas.paint(at.line(-0.05, 0.55 * tall, -0.05 - stride, 0.0, 0.08), label, legs)
    canvas.paint(at.line(0.05, 0.55 * tall, 0.05 + stride, 0.0, 0.08), label, legs)
    canvas.paint(at.box(-0.15 * tall, 0.15 * tall, 0.52 * tall, 0.95 * tall), label, torso)
    for sign in (-1, 1):
        canvas.paint(at.line(sign * 0.17 * tall, 0.93 * tall, sign * 0.2 * tall, 0.55 * tall,
                             0.06), label, torso)
    canvas.paint(at.oval(0.0, 1.04 * tall, 0.08 * tall, 0.1 * tall), label, "skin")
    if rng.random() < 0.3:  # a bag or an umbrella
        canvas.paint(at.box(0.15 * tall, 0.32 * tall, 0.45 * tall, 0.7 * tall), label, "clothing")


def _seated_rider(canvas: Canvas, at: Placement, seat: tuple[float, float],
                  hands: tuple[float, float], feet: tuple[float, float],
                  head: str = "skin") -> None:
    torso = canvas.new_instance("clothing")
    shoulder = (seat[0] + 0.15, seat[1] + 0.5)
    canvas.paint(at.line(*seat, *shoulder, 0.22), "rider", torso)
    canvas.paint(at.line(*shoulder, *hands, 0.07), "rider", torso)
    canvas.paint(at.line(*seat, *feet, 0.1), "rider", "clothing")
    canvas.paint(at.oval(shoulder[0] + 0.03, shoulder[1] + 0.14, 0.09, 0.11), "rider", head)


def bicycle(canvas: Canvas, at: Placement, rng: np.random.Generator,
            with_rider: bool = True) -> None:
    frame = canvas.new_instance("bike_frame")
    radius, gap = 0.23, 0.55
    for du in (-gap, gap):
        canvas.paint(at.wheel(du, radius, 0.05), "bicycle", "tyre")
    points = [(-gap, radius), (-0.1, 0.62), (0.3, 0.6), (gap, radius), (0.05, 0.25)]
    for (a, b), (c, d) in zip(points, points[1:] + points[:1]):
        canvas.paint(at.line(a, b, c, d, 0.04), "bicycle", frame)
    canvas.paint(at.line(0.3, 0.6, 0.38, 0.82, 0.04), "bicycle", frame)
    if with_rider:
        _seated_rider(canvas, at, seat=(-0.12, 0.7), hands=(0.38, 0.82), feet=(0.05, 0.2))


def motorcycle(canvas: Canvas, at: Placement, rng: np.random.Generator,
               with_rider: bool = True) -> None:
    body = canvas.new_instance("motor_paint")
    for du in (-0.7, 0.7):
        canvas.paint(at.oval(du, 0.3, 0.3, 0.3), "motorcycle", "tyre")
    canvas.paint(at.poly([-0.6, -0.2, 0.5, 0.65, 0.3, -0.5], [0.45, 0.35, 0.4, 0.7, 0.85, 0.75]),
                 "motorcycle", body)
    canvas.paint(at.line(0.55, 0.6, 0.7, 0.3, 0.06), "motorcycle", "metal")
    if with_rider:
        _seated_rider(canvas, at, seat=(-0.25, 0.82), hands=(0.5, 0.95), feet=(0.0, 0.4),
                      head="helmet")


def pole(canvas: Canvas, at: Placement, rng: np.random.Generator,
         attach: str | None = None) -> None:
    """A pole, optionally carrying a traffic sign, a traffic light or a street lamp."""
    top = rng.uniform(2.5, 4.5)
    material = canvas.new_instance("pole")
    canvas.paint(at.box(-0.05, 0.05, 0.0, top), "pole", material)
    if attach == "traffic sign":
        sign_material = canvas.new_instance("sign")
        size = rng.uniform(0.25, 0.45)
        centre = top - size
        shape = rng.integers(3)
        if shape == 0:
            canvas.paint(at.oval(0.0, centre, size, size), "traffic sign", sign_material)
        elif shape == 1:
            canvas.paint(at.poly([-size, size, 0.0], [centre - size, centre - size, centre + size]),
                         "traffic sign", sign_material)
        else:
            canvas.paint(at.box(-size, size, centre - size * 0.7, centre + size * 0.7),
                         "traffic sign", sign_material)
    elif attach == "traffic light":
        arm = rng.choice([0.0, rng.uniform(-2.5, 2.5)])
        if arm:
            canvas.paint(at.line(0.0, top, arm, top, 0.06), "pole", material)
        canvas.paint(at.box(arm - 0.17, arm + 0.17, top - 0.9, top), "traffic light", "light_box")
        lit = rng.integers(3)
        for k in range(3):
            canvas.paint(at.oval(arm, top - 0.15 - 0.27 * k, 0.08, 0.08), "traffic light",
                         "lamp" if k == lit else "light_box")
    elif attach == "lamp":
        canvas.paint(at.line(0.0, top, 0.6, top + 0.15, 0.05), "pole", material)
        canvas.paint(at.oval(0.6, top + 0.1, 0.18, 0.07), "pole", "light_box")


def tree(canvas: Canvas, at: Placement, rng: np.random.Generator) -> None:
    trunk_top = rng.uniform(1.2, 2.5)
    crown = rng.uniform(1.0, 2.8)
    canvas.paint(at.box(-0.08, 0.08, 0.0, trunk_top + crown * 0.3), "vegetation", "trunk")
    leaves = canvas.new_instance("vegetation")
    for _ in range(rng.integers(3, 7)):
        du, dh = rng.normal(0, crown * 0.4, size=2)
        radius = crown * rng.uniform(0.45, 0.8)
        canvas.paint(at.oval(du, trunk_top + crown * 0.8 + dh, radius, radius * 0.9),
                     "vegetation", leaves)


def clutter(canvas: Canvas, at: Placement, rng: np.random.Generator,
            label: str = "static") -> None:
    """Bins, benches, boxes (static) or a pram, a cart (dynamic): void classes."""
    material = canvas.new_instance("clutter")
    width, top = rng.uniform(0.15, 0.6), rng.uniform(0.3, 0.9)
    if rng.random() < 0.5:
        canvas.paint(at.box(-width, width, 0.0, top), label, material)
    else:
        canvas.paint(at.oval(0.0, top / 2, width, top / 2), label, material)
        canvas.paint(at.box(-width * 0.8, width * 0.8, top * 0.8, top * 1.1), label, material)


def vehicle_void(canvas: Canvas, at: Placement, rng: np.random.Generator) -> None:
    """A caravan or a trailer: vehicles that are void in Cityscapes."""
    label = "caravan" if rng.random() < 0.5 else "trailer"
    canvas.paint(at.box(-0.9, 0.9, 0.2, rng.uniform(1.2, 2.0)), label, "truck_paint")
    canvas.paint(at.box(-0.9, -0.6, 0.0, 0.3), label, "tyre")
    canvas.paint(at.box(0.6, 0.9, 0.0, 0.3), label, "tyre")
