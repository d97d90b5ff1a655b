"""Rendering of the synthetic city: materials, textures, lighting, blur and sensor noise.

Every material instance gets a colour (a palette entry of its material, jittered, and pulled
toward another material's colour by `colour_overlap`) and weights over a few texture fields
(grain, blotches, clouds, stripes and a grid in surface coordinates, a vertical gradient).
Classes share palettes on purpose (grey road, pavement, walls, poles, cars; green terrain and
vegetation; white sky, trucks, markings) and a per-image lighting (brightness, tint,
contrast, cast shadows) shifts every colour, so a network needs texture and context.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from actseg.synth.draw import GROUND, IMAGE, LEFT_FACADE, RIGHT_FACADE, Canvas

FIELDS = ("grain", "blotch", "cloud", "stripe_a", "stripe_b", "grid", "gradient")


@dataclass(frozen=True)
class Difficulty:
    """Knobs of the rendering: raise noise/blur/colour_overlap/lighting or lower texture to
    make the dataset harder."""

    # Defaults since issue 10 (README "Measured numbers"): noise 0.03 -> 0.015, colour
    # overlap 0.35 -> 0.1, lighting 1.0 -> 0.5 raised the 300-iteration bound from 16.9 to
    # 23.6 % while colour alone went from 6.2 to 8.0 %: still a task of context, not colour.
    noise: float = 0.015         # sensor noise std, fraction of full scale
    blur: float = 0.7            # Gaussian blur sigma in px (0 = none)
    texture: float = 1.0         # multiplier of every texture amplitude
    colour_overlap: float = 0.1  # max pull of an instance colour toward another material's
    lighting: float = 0.5        # strength of per-image brightness/tint/contrast/shadows


@dataclass(frozen=True)
class Material:
    palette: tuple[tuple[float, float, float], ...]
    jitter: float
    texture: dict[str, float]


GREYS = ((0.35, 0.35, 0.37), (0.45, 0.44, 0.42), (0.55, 0.54, 0.52), (0.28, 0.28, 0.3))
GREENS = ((0.2, 0.35, 0.12), (0.3, 0.45, 0.2), (0.15, 0.25, 0.1), (0.4, 0.45, 0.22))
PAINTS = ((0.8, 0.8, 0.82), (0.1, 0.1, 0.12), (0.5, 0.5, 0.55), (0.6, 0.12, 0.1),
          (0.15, 0.25, 0.5), (0.7, 0.68, 0.6), (0.3, 0.35, 0.3))
CLOTHES = ((0.1, 0.1, 0.12), (0.2, 0.25, 0.5), (0.6, 0.12, 0.1), (0.8, 0.8, 0.78),
           (0.4, 0.4, 0.4), (0.3, 0.4, 0.2), (0.7, 0.6, 0.4), (0.5, 0.3, 0.45))

MATERIALS: dict[str, Material] = {
    "sky": Material(((0.55, 0.7, 0.9), (0.8, 0.82, 0.85), (0.7, 0.75, 0.85), (0.9, 0.85, 0.75)),
                    0.05, {"cloud": 0.18, "gradient": 0.15, "grain": 0.01}),
    "road": Material(GREYS, 0.04, {"grain": 0.07, "blotch": 0.05, "cloud": 0.08}),
    "marking": Material(((0.85, 0.85, 0.82), (0.85, 0.75, 0.3)), 0.04, {"grain": 0.04}),
    "sidewalk": Material(GREYS + ((0.55, 0.45, 0.42), (0.6, 0.58, 0.58)), 0.05,
                         {"grain": 0.04, "grid": 0.07, "stripe_a": 0.03}),
    "curb": Material(((0.65, 0.64, 0.62), (0.5, 0.5, 0.5)), 0.04, {"grain": 0.05}),
    "ground": Material(((0.45, 0.4, 0.35), (0.5, 0.48, 0.45), (0.4, 0.42, 0.3)), 0.05,
                       {"grain": 0.1, "blotch": 0.06}),
    "terrain": Material(((0.35, 0.45, 0.2), (0.45, 0.42, 0.3), (0.4, 0.5, 0.25),
                         (0.3, 0.38, 0.2)), 0.05, {"grain": 0.14, "blotch": 0.08}),
    "building": Material(((0.6, 0.55, 0.5), (0.7, 0.68, 0.62), (0.5, 0.4, 0.35),
                          (0.45, 0.45, 0.47), (0.75, 0.72, 0.65), (0.55, 0.35, 0.3)), 0.06,
                         {"stripe_b": 0.05, "cloud": 0.06, "grain": 0.03, "blotch": 0.03}),
    "glass": Material(((0.25, 0.3, 0.35), (0.5, 0.6, 0.7), (0.15, 0.15, 0.18)), 0.05,
                      {"cloud": 0.12, "gradient": 0.05}),
    "wall": Material(((0.6, 0.58, 0.55), (0.5, 0.45, 0.4), (0.65, 0.6, 0.5), (0.4, 0.4, 0.42)),
                     0.06, {"blotch": 0.1, "grain": 0.05, "stripe_b": 0.06, "grid": 0.03}),
    "fence": Material(((0.45, 0.35, 0.25), (0.5, 0.5, 0.52), (0.3, 0.4, 0.3), (0.6, 0.6, 0.6)),
                      0.06, {"stripe_a": 0.3, "grain": 0.03}),
    "metal": Material(((0.55, 0.55, 0.58), (0.4, 0.4, 0.42)), 0.04, {"grain": 0.02}),
    "pole": Material(((0.45, 0.45, 0.47), (0.3, 0.3, 0.32), (0.55, 0.5, 0.4)), 0.05,
                     {"grain": 0.02}),
    "light_box": Material(((0.12, 0.12, 0.12), (0.3, 0.3, 0.2), (0.2, 0.25, 0.2)), 0.03, {}),
    "lamp": Material(((0.9, 0.2, 0.15), (0.95, 0.75, 0.2), (0.2, 0.85, 0.4)), 0.05, {}),
    "sign": Material(((0.8, 0.15, 0.15), (0.15, 0.3, 0.7), (0.9, 0.8, 0.2), (0.9, 0.9, 0.9),
                      (0.2, 0.55, 0.3)), 0.05, {"grain": 0.02}),
    "vegetation": Material(GREENS + ((0.45, 0.35, 0.15),), 0.05, {"blotch": 0.25, "grain": 0.15}),
    "trunk": Material(((0.3, 0.25, 0.2), (0.35, 0.32, 0.28)), 0.04, {"grain": 0.1}),
    "skin": Material(((0.85, 0.65, 0.5), (0.6, 0.45, 0.35), (0.4, 0.28, 0.2)), 0.04, {}),
    "helmet": Material(PAINTS, 0.05, {}),
    "clothing": Material(CLOTHES, 0.08, {"stripe_b": 0.05, "grain": 0.04}),
    "car_paint": Material(PAINTS, 0.05, {"cloud": 0.08, "gradient": 0.08}),
    "tyre": Material(((0.08, 0.08, 0.08), (0.15, 0.15, 0.15)), 0.02, {"grain": 0.05}),
    "plate": Material(((0.85, 0.85, 0.8),), 0.04, {}),
    "truck_paint": Material(((0.85, 0.85, 0.85), (0.6, 0.6, 0.6), (0.3, 0.35, 0.5),
                             (0.7, 0.6, 0.2)), 0.05, {"stripe_b": 0.06, "cloud": 0.04}),
    "bus_paint": Material(((0.85, 0.75, 0.2), (0.8, 0.2, 0.15), (0.85, 0.85, 0.85),
                           (0.2, 0.4, 0.7)), 0.05, {"cloud": 0.05}),
    "train_paint": Material(((0.85, 0.85, 0.85), (0.7, 0.15, 0.15), (0.6, 0.6, 0.62),
                             (0.9, 0.85, 0.3)), 0.05, {"stripe_a": 0.05, "cloud": 0.04}),
    "rail": Material(((0.4, 0.35, 0.3), (0.35, 0.33, 0.3)), 0.04,
                     {"grain": 0.12, "stripe_b": 0.15}),
    "bike_frame": Material(((0.1, 0.1, 0.1), (0.6, 0.1, 0.1), (0.2, 0.3, 0.6), (0.7, 0.7, 0.72)),
                           0.04, {}),
    "motor_paint": Material(PAINTS, 0.05, {"cloud": 0.06}),
    "clutter": Material(((0.3, 0.35, 0.3), (0.5, 0.45, 0.4), (0.6, 0.6, 0.62), (0.2, 0.2, 0.22)),
                        0.05, {"grain": 0.05}),
    "ego_hood": Material(((0.1, 0.1, 0.12), (0.3, 0.3, 0.35), (0.6, 0.6, 0.65)), 0.04,
                         {"gradient": 0.2, "cloud": 0.1}),
    "black": Material(((0.02, 0.02, 0.02),), 0.01, {}),
}
_MATERIAL_NAMES = tuple(MATERIALS)

# Periods of the stripes along the two surface coordinates (units of each surface).
_PERIODS = np.zeros((4, 2))
_PERIODS[[IMAGE, GROUND, LEFT_FACADE, RIGHT_FACADE]] = [(1.0, 1.0), (0.5, 0.6), (1.2, 1.0),
                                                       (1.2, 1.0)]


def sample_appearance(names: list[str], rng: np.random.Generator,
                      difficulty: Difficulty) -> tuple[np.ndarray, np.ndarray]:
    """(n, 3) colours and (n, len(FIELDS)) texture weights of the material instances."""
    colours = np.empty((len(names), 3))
    weights = np.zeros((len(names), len(FIELDS)))
    for i, name in enumerate(names):  # one entry per painted part, not per pixel
        material = MATERIALS[name]
        own = np.asarray(material.palette[rng.integers(len(material.palette))])
        other_material = MATERIALS[_MATERIAL_NAMES[rng.integers(len(_MATERIAL_NAMES))]]
        other = np.asarray(other_material.palette[rng.integers(len(other_material.palette))])
        pull = rng.uniform(0.0, difficulty.colour_overlap)
        colours[i] = (1 - pull) * own + pull * other + rng.normal(0, material.jitter, 3)
        for field_name, amplitude in material.texture.items():
            weights[i, FIELDS.index(field_name)] = amplitude * rng.uniform(0.5, 1.5)
    return np.clip(colours, 0.0, 1.0), weights * difficulty.texture


def smooth_noise(rng: np.random.Generator, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Unit-variance noise smooth at `cell` px: a coarse random grid, bilinearly upsampled."""
    grid_h, grid_w = int(np.ceil(shape[0] / cell)) + 2, int(np.ceil(shape[1] / cell)) + 2
    coarse = rng.standard_normal((grid_h, grid_w))
    rows = np.arange(shape[0]) / cell + rng.uniform(0, 1)
    cols = np.arange(shape[1]) / cell + rng.uniform(0, 1)
    field = ndimage.map_coordinates(coarse, np.meshgrid(rows, cols, indexing="ij"), order=1)
    return field / max(field.std(), 1e-6)


def surface_coords(canvas: Canvas) -> tuple[np.ndarray, ...]:
    """Per pixel: (a, b) texture coordinates on the surface of its instance, the size of one
    pixel in those units (to fade stripes finer than a pixel), and the surface kind."""
    focal = canvas.view.focal
    surface = np.asarray(canvas.surfaces, np.uint8)[canvas.instance]
    lateral, depth, _ = canvas.ground()
    a, b = canvas.xx / 4.0, canvas.yy / 4.0  # IMAGE: a period of 4 px
    pixel_a, pixel_b = np.zeros_like(a), np.zeros_like(b)  # image-plane stripes never fade
    layers = [(GROUND, lateral, depth, depth / focal, depth**2 / focal)]
    for kind, u in canvas.facade_u.items():
        along, height = canvas.facade_coords(u)
        layers.append((kind, along, height, along**2 / (focal * abs(u)), along / focal))
    for kind, coord_a, coord_b, size_a, size_b in layers:
        on = surface == kind
        a, b = np.where(on, coord_a, a), np.where(on, coord_b, b)
        pixel_a, pixel_b = np.where(on, size_a, pixel_a), np.where(on, size_b, pixel_b)
    return a, b, pixel_a, pixel_b, surface


def texture_fields(canvas: Canvas, rng: np.random.Generator) -> np.ndarray:
    """(H, W, len(FIELDS)) texture fields, each roughly in [-1, 1] or unit variance."""
    shape = canvas.label.shape
    a, b, pixel_a, pixel_b, surface = surface_coords(canvas)
    period_a, period_b = _PERIODS[surface, 0], _PERIODS[surface, 1]
    fade_a = np.clip(1.0 - 2.0 * pixel_a / period_a, 0.0, 1.0)  # finer than a pixel: blur out
    fade_b = np.clip(1.0 - 2.0 * pixel_b / period_b, 0.0, 1.0)
    wave_a = np.sin(2 * np.pi * a / period_a + rng.uniform(0, 2 * np.pi))
    wave_b = np.sin(2 * np.pi * b / period_b + rng.uniform(0, 2 * np.pi))
    grid = np.where((wave_a > 0.2) & (wave_b > -0.3), 1.0, -1.0) * fade_a * fade_b
    fields = (
        rng.standard_normal(shape),
        smooth_noise(rng, shape, 3.0),
        smooth_noise(rng, shape, 16.0),
        wave_a * fade_a,
        wave_b * fade_b,
        grid,
        canvas.yy / shape[0] * 2.0 - 1.0,
    )
    return np.stack(fields, axis=-1).astype(np.float32)


def apply_lighting(image: np.ndarray, sky: np.ndarray, rng: np.random.Generator,
                   strength: float) -> np.ndarray:
    """Cast shadows (not on the sky), then global contrast, brightness and tint."""
    shadow_field = smooth_noise(rng, sky.shape, 24.0)
    depth = rng.uniform(0.0, 0.35) * strength
    shade = 1.0 - depth * np.clip((shadow_field - 0.3) * 2.0, 0.0, 1.0)
    image = image * np.where(sky, 1.0, shade)[..., None]
    contrast = np.exp(rng.normal(0, 0.15 * strength))
    brightness = np.exp(rng.normal(0, 0.22 * strength))
    tint = np.exp(rng.normal(0, 0.07 * strength, 3))
    mean = image.mean(axis=(0, 1))
    return ((image - mean) * contrast + mean) * brightness * tint


def render(canvas: Canvas, rng: np.random.Generator, difficulty: Difficulty) -> np.ndarray:
    """(H, W, 3) uint8 RGB image of the scene."""
    colours, weights = sample_appearance(canvas.materials, rng, difficulty)
    fields = texture_fields(canvas, rng)
    modulation = 1.0 + np.einsum("hwk,hwk->hw", weights[canvas.instance].astype(np.float32),
                                 fields)
    image = colours[canvas.instance] * np.clip(modulation, 0.2, 2.0)[..., None]
    image = apply_lighting(image, canvas.label == 23, rng, difficulty.lighting)
    if difficulty.blur > 0:
        image = ndimage.gaussian_filter(image, sigma=(difficulty.blur, difficulty.blur, 0))
    image = image + rng.normal(0.0, difficulty.noise, image.shape)
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
