"""A small, deterministic, synthetic street-scene dataset with a real long tail (``lt-data demo``).

Every scene is a crude street seen from a car: sky on top, building facades in perspective along both
sides (sometimes a park instead), distant buildings on the horizon, a road trapezoid with lane
markings, sidewalks beside it, street trees, cars seen from behind, and *rare, small* objects: poles,
traffic signs (mostly on poles), persons and bicycles. Road/building/sky take most of the pixels, car
and vegetation sit in the middle and the four small classes form the tail; person and bicycle are
missing from most images.

Layout written (our ``folder`` layout)::

    ROOT/classes.txt                 one class name per line; line k names label value k
    ROOT/images/{train,val}/NAME.png RGB images
    ROOT/labels/{train,val}/NAME.png 8-bit single-channel label PNGs, value = class index, 255 = ignore

Image and label are drawn with the same geometry and the same rasteriser (``cv2`` with
``LINE_8``, no anti-aliasing), so they agree pixel for pixel about where every object is; texture,
shading and noise are added to the image only. Tail objects (pole, traffic sign, person, bicycle) are
placed so that no other object covers them and no two of them touch: each one is its own connected
component of at least ~60 pixels, ready to be cut out into an object bank. A 1-pixel frame and a few
unlabeled clutter objects (bins, boxes) are ignore (255), together about 2 % of the pixels.

Each image has its own ``numpy`` Generator seeded from ``(seed, split, index)``, so the output is
byte-identical on every run, and image *i* does not depend on how many images are generated.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

__all__ = ["STREET_CLASSES", "STREET_PALETTE", "generate_street_scenes", "item_classes", "item_presence", "street_work"]

STREET_CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "sky", "vegetation",
    "car", "pole", "traffic sign", "person", "bicycle",
)
# Cityscapes-like colours for label previews (not used to render the images).
STREET_PALETTE = np.array([
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (70, 130, 180), (107, 142, 35),
    (0, 0, 142), (153, 153, 153), (220, 220, 0), (220, 20, 60), (119, 11, 32),
], dtype=np.uint8)

ROAD, SIDEWALK, BUILDING, SKY, VEGETATION, CAR, POLE, SIGN, PERSON, BICYCLE = range(10)
IGNORE = 255
TAIL = (POLE, SIGN, PERSON, BICYCLE)

_SPLITS = {"train": 0, "val": 1}
_L8 = cv2.LINE_8

# Probability that an image contains the class at all (a placement can still fail for lack of room).
# Person and bicycle presence is spread evenly over the images (a golden-ratio sequence with a seeded
# offset) rather than drawn independently, so even a small set has about these fractions.
P_CAR, P_POLE, P_PERSON, P_BICYCLE, P_PARK = 0.85, 0.8, 0.4, 0.2, 0.2
_GOLDEN = 0.6180339887498949


# ---------------------------------------------------------------------------------------------------
# drawing: every primitive goes into the label and the image with identical geometry
# ---------------------------------------------------------------------------------------------------
class _Canvas:
    def __init__(self, w: int, h: int):
        self.w, self.h = w, h
        self.label = np.full((h, w), SKY, dtype=np.uint8)
        self.img = np.zeros((h, w, 3), dtype=np.uint8)

    @staticmethod
    def _pts(pts) -> np.ndarray:
        return np.round(np.asarray(pts, dtype=np.float64)).astype(np.int32).reshape(-1, 1, 2)

    @staticmethod
    def _col(color) -> tuple[int, int, int]:
        return tuple(int(np.clip(c, 0, 255)) for c in color)

    def poly(self, pts, cls: int | None, color) -> None:
        p = [self._pts(pts)]
        if cls is not None:
            cv2.fillPoly(self.label, p, int(cls), _L8)
        cv2.fillPoly(self.img, p, self._col(color), _L8)

    def rect(self, x0, y0, x1, y1, cls: int | None, color) -> None:
        """Filled axis-aligned box, corners inclusive (rounded)."""
        self.poly([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], cls, color)

    def circle(self, cx, cy, r, cls: int | None, color, thickness: int = -1) -> None:
        c, r = (int(round(cx)), int(round(cy))), max(1, int(round(r)))
        if cls is not None:
            cv2.circle(self.label, c, r, int(cls), thickness, _L8)
        cv2.circle(self.img, c, r, self._col(color), thickness, _L8)

    def line(self, p0, p1, cls: int | None, color, thickness: int = 1) -> None:
        a = (int(round(p0[0])), int(round(p0[1])))
        b = (int(round(p1[0])), int(round(p1[1])))
        if cls is not None:
            cv2.line(self.label, a, b, int(cls), thickness, _L8)
        cv2.line(self.img, a, b, self._col(color), thickness, _L8)


def _jitter(rng: np.random.Generator, base, amount: float = 12.0) -> np.ndarray:
    return np.clip(np.asarray(base, dtype=np.float64) + rng.uniform(-amount, amount, 3), 0, 255)


def _shade(color, f: float) -> np.ndarray:
    return np.clip(np.asarray(color, dtype=np.float64) * f, 0, 255)


# ---------------------------------------------------------------------------------------------------
# scene geometry
# ---------------------------------------------------------------------------------------------------
class _Scene:
    """Perspective frame of one scene: horizon, vanishing point, road and sidewalk edges."""

    def __init__(self, rng: np.random.Generator, w: int, h: int):
        self.w, self.h = w, h
        self.vy = h * rng.uniform(0.40, 0.47)          # horizon
        self.vx = w * rng.uniform(0.42, 0.58)          # vanishing point
        self.road_l = w * rng.uniform(-0.06, 0.16)     # road edges where they leave the image bottom
        self.road_r = w * rng.uniform(0.84, 1.06)
        self.side_l = self.road_l - w * rng.uniform(0.45, 0.75)   # outer sidewalk edges (off-screen)
        self.side_r = self.road_r + w * rng.uniform(0.45, 0.75)

    def s(self, y: float) -> float:
        """Depth scale of a point on the ground at row y: 0 at the horizon, 1 at the image bottom."""
        return (y - self.vy) / (self.h - self.vy)

    def y_at(self, s: float) -> float:
        return self.vy + s * (self.h - self.vy)

    def x_on(self, bottom_x: float, y: float) -> float:
        """x of the ground line from the vanishing point to (bottom_x, H) at row y."""
        return self.vx + (bottom_x - self.vx) * self.s(y)

    def y_on(self, bottom_x: float, x: float) -> float:
        """y of the ground line from the vanishing point to (bottom_x, H) at column x."""
        return self.vy + (self.h - self.vy) * (x - self.vx) / (bottom_x - self.vx)


def _boxes_overlap(a, b, margin: float = 2.0) -> bool:
    return not (a[2] + margin < b[0] or b[2] + margin < a[0] or a[3] + margin < b[1] or b[3] + margin < a[1])


# ---- background: sky, buildings, ground --------------------------------------------------------------
def _draw_sky(cv: _Canvas, rng: np.random.Generator, sc: _Scene) -> None:
    h, w = cv.h, cv.w
    top = np.array([rng.uniform(60, 100), rng.uniform(120, 150), rng.uniform(200, 235)])
    bottom = np.array([rng.uniform(185, 215), rng.uniform(205, 225), rng.uniform(225, 245)])
    t = np.clip(np.arange(h, dtype=np.float64) / max(sc.vy, 1.0), 0, 1)[:, None]
    col = top[None] * (1 - t) + bottom[None] * t
    cv.img[:] = col[:, None, :].astype(np.uint8)
    # soft clouds (image only; the whole top is sky in the label anyway)
    clouds = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(0, 4))):
        cx, cy = rng.uniform(0, w), rng.uniform(0.05, 0.6) * sc.vy
        for _ in range(int(rng.integers(3, 7))):
            cv2.ellipse(clouds, (int(cx + rng.uniform(-0.08, 0.08) * w), int(cy + rng.uniform(-0.03, 0.03) * h)),
                        (int(rng.uniform(0.03, 0.08) * w), int(rng.uniform(0.015, 0.035) * h)), 0, 0, 360, 255, -1, _L8)
    if clouds.any():
        a = cv2.GaussianBlur(clouds, (0, 0), max(1.0, 0.012 * w)).astype(np.float64)[..., None] / 255 * 0.75
        cv.img[:] = (cv.img * (1 - a) + 245 * a).astype(np.uint8)


_FACADE_COLORS = [(150, 140, 130), (170, 120, 95), (120, 120, 125), (185, 170, 140),
                  (140, 100, 85), (100, 105, 115), (200, 190, 170)]


def _window_color(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.15:  # lit / reflecting window
        return _jitter(rng, (200, 200, 170), 20)
    return _jitter(rng, (45, 55, 70), 12)


def _draw_distant_buildings(cv: _Canvas, rng: np.random.Generator, sc: _Scene) -> None:
    x = sc.vx - cv.w * rng.uniform(0.25, 0.35)
    x_end = sc.vx + cv.w * rng.uniform(0.25, 0.35)
    while x < x_end:
        bw = cv.w * rng.uniform(0.04, 0.11)
        top = sc.vy - cv.h * rng.uniform(0.04, 0.22)
        base = np.asarray(_FACADE_COLORS[int(rng.integers(len(_FACADE_COLORS)))], float)
        color = _jitter(rng, base * 0.85 + np.array([120, 140, 170]) * 0.15, 10)  # aerial haze
        cv.rect(x, top, x + bw, sc.vy + cv.h * 0.15, BUILDING, color)  # base hidden by the ground later
        # tiny window grid
        for wy in np.arange(top + 3, sc.vy - 2, 5.0):
            for wx in np.arange(x + 2, x + bw - 3, 5.0):
                cv.rect(wx, wy, wx + 1, wy + 1, None, _shade(color, 0.65))
        x += bw


def _draw_facades(cv: _Canvas, rng: np.random.Generator, sc: _Scene, side: int) -> None:
    """Buildings along one side (side=-1 left, +1 right), in perspective."""
    bottom_x = sc.side_l if side < 0 else sc.side_r
    edge = -0.02 * cv.w if side < 0 else cv.w * 1.02     # beyond the image border
    far = sc.vx + side * cv.w * rng.uniform(0.12, 0.2)   # where the row of houses ends, near the VP
    # split [far, edge] into buildings, nearer buildings wider (perspective)
    cuts = [0.0]
    while cuts[-1] < 1.0:
        cuts.append(min(1.0, cuts[-1] + rng.uniform(0.18, 0.4)))
    xs = [far + (edge - far) * c ** 1.3 for c in cuts]
    for xa, xb in zip(xs[:-1], xs[1:]):
        # top line of this building: from height `ht` (fraction of H above horizon at the image edge)
        ht = rng.uniform(0.45, 1.2) * sc.vy
        def y_top(x, ht=ht):
            return sc.vy - ht * (x - sc.vx) / (edge - sc.vx)
        def y_bot(x):
            return sc.y_on(bottom_x, x) + 1
        color = _jitter(rng, _FACADE_COLORS[int(rng.integers(len(_FACADE_COLORS)))], 14)
        quad = [(xa, y_top(xa)), (xb, y_top(xb)), (xb, y_bot(xb)), (xa, y_bot(xa))]
        cv.poly(quad, BUILDING, color)
        # facade edge shading strip and windows, image only
        cv.line((xa, y_top(xa)), (xa, y_bot(xa)), None, _shade(color, 0.7), 1)
        n_cols = max(1, int(abs(xb - xa) / (cv.w * 0.04)))
        n_rows = int(rng.integers(3, 7))
        wfrac, hfrac = rng.uniform(0.45, 0.65), rng.uniform(0.4, 0.6)
        for i in range(n_cols):
            u0 = (i + (1 - wfrac) / 2) / n_cols
            u1 = u0 + wfrac / n_cols
            x0, x1 = xa + (xb - xa) * u0, xa + (xb - xa) * u1
            for j in range(n_rows):
                v0 = 0.06 + 0.74 * (j + (1 - hfrac) / 2) / n_rows
                v1 = v0 + 0.74 * hfrac / n_rows
                pts = [(x0, y_top(x0) + (y_bot(x0) - y_top(x0)) * v0), (x1, y_top(x1) + (y_bot(x1) - y_top(x1)) * v0),
                       (x1, y_top(x1) + (y_bot(x1) - y_top(x1)) * v1), (x0, y_top(x0) + (y_bot(x0) - y_top(x0)) * v1)]
                cv.poly(pts, None, _window_color(rng))
        # ground-floor band (shops), darker
        band = [(xa, y_top(xa) + (y_bot(xa) - y_top(xa)) * 0.86), (xb, y_top(xb) + (y_bot(xb) - y_top(xb)) * 0.86),
                (xb, y_bot(xb)), (xa, y_bot(xa))]
        cv.poly(band, None, _shade(color, 0.75))


def _draw_park(cv: _Canvas, rng: np.random.Generator, sc: _Scene, side: int) -> None:
    """A hedge and tree crowns instead of houses on one side."""
    bottom_x = sc.side_l if side < 0 else sc.side_r
    edge = -0.02 * cv.w if side < 0 else cv.w * 1.02
    far = sc.vx + side * cv.w * rng.uniform(0.1, 0.18)
    ht = rng.uniform(0.15, 0.35) * sc.vy
    def y_top(x):
        return sc.vy - ht * (x - sc.vx) / (edge - sc.vx)
    base = _jitter(rng, (70, 110, 45), 12)
    quad = [(far, y_top(far)), (edge, y_top(edge)), (edge, sc.y_on(bottom_x, edge) + 1),
            (far, sc.y_on(bottom_x, far) + 1)]
    cv.poly(quad, VEGETATION, base)
    for _ in range(int(rng.integers(4, 9))):           # crowns rising above the hedge
        x = far + (edge - far) * rng.uniform(0.05, 1.0)
        r = abs(sc.vy - y_top(x)) * rng.uniform(0.6, 1.3) + 2
        _crown(cv, rng, x, y_top(x) - r * 0.3, r)
    for _ in range(int(rng.integers(30, 60))):          # leaf texture on the hedge, image only
        x = far + (edge - far) * rng.uniform(0, 1)
        y = y_top(x) + (sc.y_on(bottom_x, x) - y_top(x)) * rng.uniform(0.05, 0.95)
        cv2.circle(cv.img, (int(x), int(y)), int(max(1, abs(x - sc.vx) * 0.04)),
                   cv._col(_shade(base, rng.uniform(0.7, 1.25))), -1, _L8)


def _crown(cv: _Canvas, rng: np.random.Generator, cx: float, cy: float, r: float) -> None:
    green = np.array([rng.uniform(50, 90), rng.uniform(100, 140), rng.uniform(30, 60)])
    cv.circle(cx, cy, r, VEGETATION, _shade(green, 0.8))
    for _ in range(int(rng.integers(5, 10))):
        a, d = rng.uniform(0, 2 * np.pi), rng.uniform(0.2, 0.7) * r
        cv.circle(cx + d * np.cos(a), cy + d * np.sin(a) * 0.8, r * rng.uniform(0.35, 0.6), VEGETATION,
                  _shade(green, rng.uniform(0.75, 1.2)))


def _draw_ground(cv: _Canvas, rng: np.random.Generator, sc: _Scene) -> None:
    h = cv.h
    vp = (sc.vx, sc.vy)
    walk = _jitter(rng, (170, 160, 155), 12)
    cv.poly([vp, (sc.side_l, h), (sc.road_l, h)], SIDEWALK, walk)
    cv.poly([vp, (sc.road_r, h), (sc.side_r, h)], SIDEWALK, _shade(walk, rng.uniform(0.9, 1.05)))
    # paving joints (image only)
    for s in np.linspace(0.05, 1.0, 14) ** 1.6:
        y = sc.y_at(s)
        for bx0, bx1 in ((sc.side_l, sc.road_l), (sc.road_r, sc.side_r)):
            cv.line((sc.x_on(bx0, y), y), (sc.x_on(bx1, y), y), None, _shade(walk, 0.85))
    road = _jitter(rng, (85, 85, 90), 8)
    cv.poly([(sc.vx - 1, sc.vy), (sc.vx + 1, sc.vy), (sc.road_r, h), (sc.road_l, h)], ROAD, road)
    # curb lines and dashed centre line (image only)
    for bx in (sc.road_l, sc.road_r):
        cv.line(vp, (bx, h), None, _shade(walk, 1.15), max(1, int(cv.w * 0.004)))
    mid = (sc.road_l + sc.road_r) / 2 + cv.w * rng.uniform(-0.05, 0.05)
    ss = np.linspace(0.0, 1.15, 12) ** 2
    for s0, s1 in zip(ss[0::2], ss[1::2]):
        y0, y1 = sc.y_at(s0), sc.y_at(min(s1, 1.2))
        hw0, hw1 = cv.w * 0.006 * s0 + 0.3, cv.w * 0.006 * s1 + 0.3
        x0, x1 = sc.x_on(mid, y0), sc.x_on(mid, y1)
        cv.poly([(x0 - hw0, y0), (x0 + hw0, y0), (x1 + hw1, y1), (x1 - hw1, y1)], None, (225, 225, 215))


# ---- objects --------------------------------------------------------------------------------------
# Each object: dict(kind, y (foot row, used for depth order), box (x0, y0, x1, y1) enclosing everything it
# draws, draw(cv)) and optionally cover: a tighter list of boxes it may occlude things behind it with.


def _tree(rng, sc: _Scene, cv: _Canvas, side: int, s: float) -> dict:
    y = sc.y_at(s)
    bx_out = sc.side_l if side < 0 else sc.side_r
    bx_in = sc.road_l if side < 0 else sc.road_r
    x = sc.x_on(bx_out + (bx_in - bx_out) * rng.uniform(0.55, 0.8), y)
    height = s * cv.h * rng.uniform(0.75, 1.0)
    r = height * rng.uniform(0.25, 0.33)
    tw = max(2.0, height * 0.05)

    def draw(cv: _Canvas, x=x, y=y, height=height, r=r, tw=tw):
        cv.rect(x - tw / 2, y - height + r, x + tw / 2, y, VEGETATION, _jitter(rng, (90, 70, 50), 10))
        _crown(cv, rng, x, y - height + r * 0.2, r)

    cy = y - height + r * 0.2
    return {"kind": VEGETATION, "y": y, "box": (x - r * 1.35, cy - r * 1.2, x + r * 1.35, y), "draw": draw,
            "cover": [(x - r * 1.35, cy - r * 1.2, x + r * 1.35, cy + r * 1.2), (x - tw / 2 - 1, cy, x + tw / 2 + 1, y)]}


_CAR_COLORS = [(180, 30, 30), (30, 60, 150), (220, 220, 220), (30, 30, 35), (120, 120, 125),
               (200, 170, 40), (60, 110, 70), (150, 150, 160), (90, 40, 30)]


def _car(rng, sc: _Scene, cv: _Canvas, s: float) -> dict:
    y = sc.y_at(s)
    xl, xr = sc.x_on(sc.road_l, y), sc.x_on(sc.road_r, y)
    w = (xr - xl) * rng.uniform(0.26, 0.36)
    lane = rng.choice([0.2, 0.4, 0.6, 0.8]) + rng.uniform(-0.06, 0.06)
    x = xl + (xr - xl) * lane
    x0, x1 = x - w / 2, x + w / 2
    hgt = w * rng.uniform(0.72, 0.88)
    color = _jitter(rng, _CAR_COLORS[int(rng.integers(len(_CAR_COLORS)))], 15)

    def draw(cv: _Canvas):
        wh = hgt * 0.16
        tire = (25, 25, 28)
        cv.rect(x0 + 0.05 * w, y - wh, x0 + 0.24 * w, y, CAR, tire)
        cv.rect(x1 - 0.24 * w, y - wh, x1 - 0.05 * w, y, CAR, tire)
        cv.rect(x0, y - hgt * 0.62, x1, y - wh * 0.6, CAR, color)
        cv.poly([(x0 + 0.16 * w, y - hgt), (x1 - 0.16 * w, y - hgt),
                 (x1 - 0.03 * w, y - hgt * 0.6), (x0 + 0.03 * w, y - hgt * 0.6)], CAR, _shade(color, 0.92))
        # details, image only: rear window, tail lights, plate, bumper
        cv.poly([(x0 + 0.2 * w, y - hgt * 0.93), (x1 - 0.2 * w, y - hgt * 0.93),
                 (x1 - 0.1 * w, y - hgt * 0.66), (x0 + 0.1 * w, y - hgt * 0.66)], None, (50, 60, 75))
        cv.rect(x0 + 0.03 * w, y - hgt * 0.55, x0 + 0.17 * w, y - hgt * 0.45, None, (200, 30, 25))
        cv.rect(x1 - 0.17 * w, y - hgt * 0.55, x1 - 0.03 * w, y - hgt * 0.45, None, (200, 30, 25))
        cv.rect(x - 0.12 * w, y - hgt * 0.36, x + 0.12 * w, y - hgt * 0.26, None, (235, 235, 225))
        cv.rect(x0, y - hgt * 0.2, x1, y - wh * 0.6, None, _shade(color, 0.6))

    return {"kind": CAR, "y": y, "box": (x0, y - hgt, x1, y), "draw": draw}


def _sidewalk_x(rng, sc: _Scene, side: int, y: float, lo: float, hi: float) -> float:
    """x on the visible sidewalk of `side` at row y, a fraction in [lo, hi] of the way from the curb outwards."""
    x_in = sc.x_on(sc.road_l if side < 0 else sc.road_r, y)
    x_out = sc.x_on(sc.side_l if side < 0 else sc.side_r, y)
    x_out = float(np.clip(x_out, 0.0, sc.w - 1.0))   # only the visible part of the sidewalk
    return x_in + (x_out - x_in) * rng.uniform(lo, hi)


def _pole(rng, sc: _Scene, cv: _Canvas, side: int, s: float) -> list[dict]:
    y = sc.y_at(s)
    x = _sidewalk_x(rng, sc, side, y, 0.04, 0.2)
    with_sign = rng.random() < 0.75
    r = max(6.0, s * cv.h * rng.uniform(0.04, 0.06))  # sign radius (≥ 6 px: ≥ 60 px even as a triangle)
    # ≥ 32 px of pole stay visible below the sign, so a pole is never a sliver (≥ 64 px at 2 px wide)
    height = max(32.0 + (2.0 * r if with_sign else 0.0), s * cv.h * rng.uniform(0.55, 0.8))
    pw = max(2, int(round(s * cv.w * 0.011)))
    color = _jitter(rng, (110, 115, 120), 15)
    x0 = round(x - pw / 2)
    x1 = x0 + pw - 1
    top = y - height
    objs = [{"kind": POLE, "y": y, "box": (x0, top, x1, y),
             "draw": lambda cv: (cv.rect(x0, top, x1, y, POLE, color),
                                 cv.rect(x0, top, x0, y, None, _shade(color, 1.25)))}]
    if with_sign:  # a traffic sign on top
        cy = top + r * 0.6
        cx = (x0 + x1) / 2
        shape = int(rng.integers(3))

        def draw_sign(cv: _Canvas):
            if shape == 0:    # prohibition: red disc with white centre
                cv.circle(cx, cy, r, SIGN, (200, 30, 30))
                cv.circle(cx, cy, r * 0.65, None, (235, 235, 235))
            elif shape == 1:  # mandatory: blue disc with a white arrow
                cv.circle(cx, cy, r, SIGN, (30, 70, 170))
                cv.line((cx, cy + r * 0.5), (cx, cy - r * 0.5), None, (235, 235, 235), max(1, int(r / 4)))
            else:             # warning: triangle, red border, white inside
                tri = [(cx, cy - r), (cx + r * 1.1, cy + r * 0.8), (cx - r * 1.1, cy + r * 0.8)]
                cv.poly(tri, SIGN, (200, 30, 30))
                inner = [(cx, cy - r * 0.45), (cx + r * 0.6, cy + r * 0.5), (cx - r * 0.6, cy + r * 0.5)]
                cv.poly(inner, None, (240, 225, 90))

        objs.append({"kind": SIGN, "y": y + 0.01, "box": (cx - r * 1.15, cy - r, cx + r * 1.15, cy + r),
                     "draw": draw_sign})
    return objs


def _free_sign(rng, sc: _Scene, cv: _Canvas, side: int, s: float) -> dict:
    """A sign mounted on a facade / hanging (no pole)."""
    y = sc.y_at(s)
    x = _sidewalk_x(rng, sc, side, y, 0.7, 0.95)
    r = max(6.0, s * cv.h * rng.uniform(0.04, 0.06))
    cy = y - s * cv.h * rng.uniform(0.5, 0.7)
    color = (30, 70, 170) if rng.random() < 0.5 else (200, 30, 30)

    def draw(cv: _Canvas):
        cv.rect(x - r, cy - r * 0.7, x + r, cy + r * 0.7, SIGN, color)
        cv.rect(x - r * 0.6, cy - r * 0.3, x + r * 0.6, cy + r * 0.3, None, (235, 235, 235))

    return {"kind": SIGN, "y": y, "box": (x - r, cy - r * 0.7, x + r, cy + r * 0.7), "draw": draw}


_SKIN = [(230, 190, 160), (200, 150, 110), (140, 95, 60), (90, 60, 40)]
_CLOTHES = [(200, 40, 40), (40, 60, 150), (40, 120, 60), (230, 200, 60), (240, 240, 240), (40, 40, 45),
            (150, 80, 160), (230, 120, 40), (100, 70, 50)]


def _person(rng, sc: _Scene, cv: _Canvas, x: float, y: float, s: float) -> dict:
    hgt = max(26.0, s * cv.h * rng.uniform(0.3, 0.38))
    bw = hgt * rng.uniform(0.24, 0.3)
    skin = _jitter(rng, _SKIN[int(rng.integers(len(_SKIN)))], 8)
    shirt = _jitter(rng, _CLOTHES[int(rng.integers(len(_CLOTHES)))], 15)
    pants = _jitter(rng, _CLOTHES[int(rng.integers(len(_CLOTHES)))], 15) * 0.7
    hr = hgt * 0.085
    stride = rng.uniform(-0.08, 0.08) * hgt

    def draw(cv: _Canvas):
        top = y - hgt
        hip = y - hgt * 0.47
        leg = max(2.0, hgt * 0.085)
        # legs (slightly apart, one possibly striding), torso with arms, head
        cv.poly([(x - leg * 1.1, hip), (x - 0.2, hip), (x - leg * 0.2 - stride * 0.5, y), (x - leg * 1.2 - stride * 0.5, y)],
                PERSON, pants)
        cv.poly([(x + 0.2, hip), (x + leg * 1.1, hip), (x + leg * 1.2 + stride * 0.5, y), (x + leg * 0.2 + stride * 0.5, y)],
                PERSON, _shade(pants, 0.85))
        cv.poly([(x - bw * 0.4, top + hr * 2), (x + bw * 0.4, top + hr * 2),
                 (x + bw * 0.5, top + hr * 2.6), (x + bw * 0.42, hip + 1), (x - bw * 0.42, hip + 1),
                 (x - bw * 0.5, top + hr * 2.6)], PERSON, shirt)
        aw = max(1, int(round(hgt * 0.05)))
        cv.line((x - bw * 0.45, top + hr * 2.6), (x - bw * 0.55 - stride * 0.3, hip + hgt * 0.05), PERSON,
                _shade(shirt, 0.85), aw)
        cv.line((x + bw * 0.45, top + hr * 2.6), (x + bw * 0.55 + stride * 0.3, hip + hgt * 0.05), PERSON,
                _shade(shirt, 0.85), aw)
        cv.circle(x, top + hr + 0.5, hr + 0.5, PERSON, skin)
        cv.circle(x, top + hr * 0.6, hr * 0.8, None, _shade(skin, 0.45))  # hair

    half = max(bw * 0.62, abs(stride) * 0.5 + hgt * 0.1) + 1
    return {"kind": PERSON, "y": y, "box": (x - half, y - hgt - 1, x + half, y + 1), "draw": draw}


def _bicycle(rng, sc: _Scene, cv: _Canvas, x: float, y: float, s: float) -> dict:
    r = max(5.0, s * cv.h * rng.uniform(0.05, 0.065))
    t = max(2, int(round(r / 4)))
    facing = 1 if rng.random() < 0.5 else -1
    gap = r * 2.3
    color = _jitter(rng, _CLOTHES[int(rng.integers(len(_CLOTHES)))], 20)
    rear, front = (x - facing * gap / 2, y - r), (x + facing * gap / 2, y - r)

    def draw(cv: _Canvas):
        tire = (30, 30, 32)
        for c in (rear, front):
            cv.circle(c[0], c[1], r, BICYCLE, tire, t)
        cy = y - r
        crank = (x - facing * 0.15 * r, cy)
        seat = (rear[0] + facing * 0.7 * r, cy - 1.3 * r)
        head = (front[0] - facing * 0.3 * r, cy - 1.4 * r)
        ft = max(1, t - 1) + 1
        for a, b in ((rear, crank), (crank, seat), (seat, rear), (seat, head), (head, crank), (head, front)):
            cv.line(a, b, BICYCLE, color, ft)
        cv.line((seat[0] - 0.35 * r, seat[1] - 0.15 * r), (seat[0] + 0.35 * r, seat[1] - 0.15 * r), BICYCLE,
                (30, 30, 30), ft)
        cv.line(head, (head[0] - facing * 0.1 * r, head[1] - 0.4 * r), BICYCLE, color, ft)
        cv.line((head[0] - facing * 0.4 * r, head[1] - 0.4 * r), (head[0] + facing * 0.1 * r, head[1] - 0.4 * r),
                BICYCLE, (30, 30, 30), ft)

    half = gap / 2 + r + 2
    return {"kind": BICYCLE, "y": y, "box": (x - half, y - 2.8 * r - t - 1, x + half, y + 1), "draw": draw}


def _clutter(rng, sc: _Scene, cv: _Canvas, side: int, s: float) -> dict:
    """Unlabeled stuff (bin, box, bollard): ignore in the label."""
    y = sc.y_at(s)
    x = _sidewalk_x(rng, sc, side, y, 0.3, 0.9)
    w = max(3.0, s * cv.w * rng.uniform(0.03, 0.06))
    hgt = w * rng.uniform(0.8, 1.6)
    color = _jitter(rng, (90, 85, 70), 30)

    def draw(cv: _Canvas):
        cv.rect(x - w / 2, y - hgt, x + w / 2, y, IGNORE, color)
        cv.rect(x - w / 2, y - hgt, x + w / 2, y - hgt + max(1.0, hgt * 0.15), None, _shade(color, 0.7))

    return {"kind": IGNORE, "y": y, "box": (x - w / 2, y - hgt, x + w / 2, y), "draw": draw}


def item_classes(n: int) -> tuple[str, ...]:
    """Names of ``n`` extra tail classes ("street items"), appended after :data:`STREET_CLASSES`."""
    return tuple(f"item {k + 1:02d}" for k in range(n))


def item_presence(k: int) -> float:
    """Probability that an image holds street item k (0-based): a Zipf-like tail, 0.5 down to ~0.1."""
    return 0.5 / math.sqrt(k + 1)


def _item_look(k: int) -> tuple[int, np.ndarray, np.ndarray, int]:
    """Street item k's fixed signature: shape (5 kinds), body colour (hues spread by the golden
    ratio), mark colour and mark kind (4 kinds), so every class is told apart by shape and colour."""
    hue = int((k * _GOLDEN % 1.0) * 179)
    body = cv2.cvtColor(np.uint8([[[hue, 220, 210]]]), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float64)
    mark = cv2.cvtColor(np.uint8([[[(hue + 90) % 180, 200, 250 if k % 2 else 60]]]),
                        cv2.COLOR_HSV2RGB)[0, 0].astype(np.float64)
    return k % 5, body, mark, (k // 5) % 4


def _item(rng, sc: _Scene, cv: _Canvas, k: int, cls: int, s: float) -> dict:
    """A street item (extra tail class ``cls``) standing on the ground at depth s."""
    y = sc.y_at(s)
    x = rng.uniform(0.04, 0.96) * cv.w
    r = max(5.0, s * cv.h * rng.uniform(0.045, 0.075))
    shape, body, mark, mark_kind = _item_look(k)
    body, mark = _jitter(rng, body, 10), _jitter(rng, mark, 10)
    cy = y - r

    def draw(cv: _Canvas):
        if shape == 0:
            cv.rect(x - r, cy - r, x + r, cy + r, cls, body)
        elif shape == 1:
            cv.circle(x, cy, r, cls, body)
        elif shape == 2:
            cv.poly([(x, cy - r), (x + r, cy + r), (x - r, cy + r)], cls, body)
        elif shape == 3:
            cv.poly([(x, cy - r), (x + r, cy), (x, cy + r), (x - r, cy)], cls, body)
        else:
            t = r * 0.4
            cv.rect(x - r, cy - t, x + r, cy + t, cls, body)
            cv.rect(x - t, cy - r, x + t, cy + r, cls, body)
        if mark_kind == 0:
            cv.circle(x, cy, r * 0.3, None, mark)
        elif mark_kind == 1:
            cv.rect(x - r * 0.5, cy - r * 0.12, x + r * 0.5, cy + r * 0.12, None, mark)
        elif mark_kind == 2:
            cv.rect(x - r * 0.12, cy - r * 0.5, x + r * 0.12, cy + r * 0.5, None, mark)

    return {"kind": cls, "y": y, "box": (x - r - 1, cy - r - 1, x + r + 1, y + 1), "draw": draw}


# ---------------------------------------------------------------------------------------------------
# one scene
# ---------------------------------------------------------------------------------------------------
def _render_scene(rng: np.random.Generator, w: int, h: int, *, has_person: bool,
                  has_bicycle: bool, items: int = 0, item_rng: np.random.Generator | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    cv = _Canvas(w, h)
    sc = _Scene(rng, w, h)
    _draw_sky(cv, rng, sc)
    _draw_distant_buildings(cv, rng, sc)
    for side in (-1, 1):
        if rng.random() < P_PARK:
            _draw_park(cv, rng, sc, side)
        else:
            _draw_facades(cv, rng, sc, side)
    _draw_ground(cv, rng, sc)

    # ---- middle classes and clutter: may overlap each other freely
    scene_objs: list[dict] = []
    for side in (-1, 1):
        for _ in range(int(rng.integers(0, 4))):
            scene_objs.append(_tree(rng, sc, cv, side, rng.uniform(0.25, 1.0)))
    if rng.random() < P_CAR:
        for _ in range(int(rng.integers(1, 5))):
            scene_objs.append(_car(rng, sc, cv, rng.uniform(0.12, 0.95) ** 0.8))
    for _ in range(int(rng.integers(0, 3))):
        scene_objs.append(_clutter(rng, sc, cv, int(rng.choice([-1, 1])), rng.uniform(0.3, 1.0)))

    # ---- tail objects: each must be fully visible, inside the frame and apart from the others
    tail: list[dict] = []

    def fits(objs: list[dict]) -> bool:
        for o in objs:
            x0, y0, x1, y1 = o["box"]
            if x0 < 2 or y0 < 2 or x1 > w - 3 or y1 > h - 3:
                return False
            for t in tail:
                if _boxes_overlap(o["box"], t["box"]):
                    return False
            for so in scene_objs:  # nothing nearer may cover it
                if so["y"] >= o["y"] - 1 and any(_boxes_overlap(o["box"], b, 1.0)
                                                 for b in so.get("cover", [so["box"]])):
                    return False
        return True

    def place(make, tries: int = 25) -> bool:
        for _ in range(tries):
            objs = make()
            if fits(objs):
                tail.extend(objs)
                return True
        return False

    def make_person():
        s = rng.uniform(0.3, 1.0)
        y = sc.y_at(s)
        if rng.random() < 0.85:   # on a sidewalk
            x = _sidewalk_x(rng, sc, int(rng.choice([-1, 1])), y, 0.1, 0.9)
        else:                     # crossing the road
            x = sc.x_on(sc.road_l, y) + (sc.x_on(sc.road_r, y) - sc.x_on(sc.road_l, y)) * rng.uniform(0.1, 0.9)
        return [_person(rng, sc, cv, x, y, s)]

    def make_bicycle():
        s = rng.uniform(0.35, 1.0)
        y = sc.y_at(s)
        return [_bicycle(rng, sc, cv, _sidewalk_x(rng, sc, int(rng.choice([-1, 1])), y, 0.05, 0.5), y, s)]

    if has_bicycle:
        for _ in range(int(rng.integers(1, 3))):
            place(make_bicycle)

    if has_person:
        for _ in range(int(rng.integers(1, 5))):
            place(make_person)
    if rng.random() < P_POLE:
        for _ in range(int(rng.integers(1, 5))):
            place(lambda: _pole(rng, sc, cv, int(rng.choice([-1, 1])), rng.uniform(0.3, 1.0)))
    if rng.random() < 0.25:
        place(lambda: [_free_sign(rng, sc, cv, int(rng.choice([-1, 1])), rng.uniform(0.3, 0.9))])

    for k in range(items):  # extra tail classes, from their own generator: the base scene is unchanged
        if item_rng.random() < item_presence(k):
            for _ in range(int(item_rng.integers(1, 3))):
                place(lambda k=k: [_item(item_rng, sc, cv, k, len(STREET_CLASSES) + k, item_rng.uniform(0.3, 1.0))])

    for o in sorted(scene_objs + tail, key=lambda o: o["y"]):  # painter's order: far to near
        o["draw"](cv)

    # ---- image only: lighting, texture noise; label: 1-pixel ignore frame
    img = cv.img.astype(np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    light = 1.0 + rng.uniform(0.05, 0.15) * ((xx / w - 0.5) * np.cos(ang) + (yy / h - 0.5) * np.sin(ang))
    img *= (light * rng.uniform(0.9, 1.08))[..., None]
    # coarse (blotchy) + fine noise, stronger on the ground than in the sky
    coarse = cv2.resize(rng.standard_normal((h // 8 + 1, w // 8 + 1, 3), dtype=np.float32), (w, h),
                        interpolation=cv2.INTER_LINEAR)
    fine = rng.standard_normal((h, w, 1), dtype=np.float32)
    amp = np.where(cv.label == SKY, 1.5, 5.0).astype(np.float32)[..., None]
    img += coarse * 4.0 + fine * amp
    img = np.clip(img + 0.5, 0, 255).astype(np.uint8)

    label = cv.label
    label[0, :] = label[-1, :] = label[:, 0] = label[:, -1] = IGNORE
    return img, label


# ---------------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------------
def _name(split: str, i: int) -> str:
    return f"{split}_{i:04d}"


def generate_street_scenes(root: str | Path, *, num_train: int = 48, num_val: int = 16,
                           size: tuple[int, int] = (320, 240), seed: int = 0, progress: bool = False,
                           extra_tail: int = 0) -> Path:
    """Write the synthetic street-scene dataset in the ``folder`` layout under ``root``; returns ``root``.

    size is (width, height). ``extra_tail`` adds that many rare "street item" classes (``item 01``,
    ...: one shape and colour each, present in 50 % down to ~10 % of the images), for a dataset with
    many tail classes; with 0 the output is the 10-class dataset, byte for byte. Deterministic: the same arguments give byte-identical PNGs. An existing
    dataset at ``root`` is overwritten; stale ``{split}_NNNN.png`` files from a larger earlier run are
    removed, anything else in the folders is left alone.
    """
    root = Path(root)
    w, h = int(size[0]), int(size[1])
    if w < 32 or h < 32:
        raise ValueError(f"size must be at least 32x32, got {size!r}")
    if num_train < 0 or num_val < 0:
        raise ValueError("num_train and num_val must be >= 0")
    root.mkdir(parents=True, exist_ok=True)
    extra_tail = int(extra_tail)
    if not 0 <= extra_tail <= 255 - len(STREET_CLASSES):
        raise ValueError(f"extra_tail must be in 0..{255 - len(STREET_CLASSES)}, got {extra_tail}")
    names = STREET_CLASSES + item_classes(extra_tail)
    (root / "classes.txt").write_text("\n".join(names) + "\n", encoding="utf-8")

    counts = {"train": int(num_train), "val": int(num_val)}
    bar = tqdm(total=sum(counts.values()), desc="generate street scenes", unit="img", disable=not progress,
               dynamic_ncols=True)
    for split, n in counts.items():
        img_dir, lbl_dir = root / "images" / split, root / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lbl_dir.mkdir(parents=True, exist_ok=True)
        pattern = re.compile(rf"{split}_(\d+)\.png")
        for d in (img_dir, lbl_dir):
            for f in d.glob(f"{split}_*.png"):
                m = pattern.fullmatch(f.name)
                if m and int(m.group(1)) >= n:
                    f.unlink()
        off_person, off_bicycle = np.random.default_rng(
            np.random.SeedSequence([int(seed), _SPLITS[split], 1 << 20])).random(2)
        for i in range(n):
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SPLITS[split], i]))
            img, label = _render_scene(rng, w, h, has_person=(i * _GOLDEN + off_person) % 1.0 < P_PERSON,
                                       has_bicycle=(i * _GOLDEN + off_bicycle) % 1.0 < P_BICYCLE, items=extra_tail,
                                       item_rng=np.random.default_rng(np.random.SeedSequence([int(seed), _SPLITS[split],
                                                                                              i, 1 << 21])))
            name = _name(split, i)
            if not cv2.imwrite(str(img_dir / f"{name}.png"), np.ascontiguousarray(img[..., ::-1])):
                raise OSError(f"could not write {img_dir / f'{name}.png'}")
            if not cv2.imwrite(str(lbl_dir / f"{name}.png"), label):
                raise OSError(f"could not write {lbl_dir / f'{name}.png'}")
            bar.update()
    bar.close()
    return root


def street_work(base: str | Path, *, num_train: int = 6, size: tuple[int, int] = (96, 64), seed: int = 0) -> Path:
    """``num_train`` generated street scenes under ``base/data``, their training statistics and default
    buckets in ``base/work``; returns the work directory (the docstring examples' small dataset)."""
    from ..data.buckets import write_buckets
    from ..data.layouts import get_layout
    from ..data.stats import run_stats

    base = Path(base)
    root = generate_street_scenes(base / "data", num_train=num_train, num_val=0, size=size, seed=seed)
    run_stats(get_layout("folder", root, "train"), base / "work", workers=1, progress=False)
    write_buckets(base / "work")
    return base / "work"
