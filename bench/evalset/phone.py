"""A phone photo of a printed page, simulated: pure functions of (page image, seed), numpy and Pillow only.

The page is laid on a textured background, rotated by 1 to 3 degrees and tilted in perspective (one homography
takes the page's pixels to the photo's), lit unevenly (a gradient, a vignette, a soft shadow across part of the
frame), tinted warm, lowered in contrast, blurred (Gaussian, 0.8 to 1.6 px), given noise and saved as JPEG at
quality 50 to 70.  Two kinds:

- ``hard``: as the dev set's hard pages: the page rendered at 170 dpi fills most of the frame;
- ``small``: a whole page photographed from further away: rendered at 95 to 110 dpi, laid in a frame whose long side
  is about 2,000 px with more background around it, so body text is about ten pixels high.

Coordinates are continuous pixel coordinates, origin at the top left corner of the top left pixel (pixel (i, j)
covers [i, i + 1) x [j, j + 1)), for the page and the photo alike; Pillow's perspective transform samples the same
way.  Every draw of a parameter is rounded before use, so the recorded parameters are exactly the ones applied.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageFilter

KINDS = ("hard", "small")
HARD_DPI = 170
SMALL_DPI = (95, 110)
JPEG_QUALITY = (50, 70)
BLUR_PX = (0.8, 1.6)

# Table tops, desks, cloth: (r, g, b) bases the background is drawn around.
BACKGROUNDS = ((112, 78, 52), (140, 104, 70), (92, 92, 96), (60, 64, 58), (120, 52, 64), (168, 160, 146))


@dataclass(frozen=True)
class Simulation:
    """Everything one simulated photo was made with (recorded in ``cases.jsonl`` as ``simulation``)."""

    kind: str
    seed: int
    frame: tuple[int, int]  # width, height of the photo
    corners: tuple[tuple[float, float], ...]  # where the page's corners land: top left, top right, bottom right, left
    rotation_deg: float
    tilt: tuple[float, float]  # perspective: relative shrink of the top edge, of the right edge
    background_rgb: tuple[int, int, int]
    texture: float  # strength of the background's texture (fraction of its level)
    gradient: tuple[float, float]  # direction in degrees, strength (the light varies by +- strength)
    vignette: float  # how much darker the corners are than the centre (fraction)
    shadow: tuple[
        float, float, float, float
    ]  # direction in degrees, edge offset (fraction of half diagonal), depth, softness px
    tint: tuple[float, float, float]  # r, g, b gains
    levels: tuple[int, int]  # black and white levels after lowering the contrast
    blur_px: float  # Gaussian sigma
    noise: float  # sigma of the added noise, grey levels
    jpeg_quality: int

    def record(self) -> dict:
        """The parameters as plain JSON values."""
        return asdict(self)


@dataclass(frozen=True)
class Photo:
    """A simulated photo: its JPEG bytes, the homography from page pixels to photo pixels, and how it was made."""

    jpeg: bytes
    homography: np.ndarray  # 3 x 3
    simulation: Simulation

    @property
    def size(self) -> tuple[int, int]:
        return self.simulation.frame


def page_dpi(kind: str, seed: int) -> int:
    """The dpi to render the page at for a photo of ``kind`` made with ``seed``."""
    if kind == "hard":
        return HARD_DPI
    if kind == "small":
        return int(np.random.default_rng([seed, 1]).integers(SMALL_DPI[0], SMALL_DPI[1] + 1))
    raise ValueError(f"unknown kind of photo: {kind!r}")


def _r(value: float, digits: int = 3) -> float:
    return round(float(value), digits)


def draw_simulation(page_size: tuple[int, int], kind: str, seed: int) -> Simulation:
    """The parameters of one photo of a page of ``page_size`` pixels: a pure function of its arguments."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of photo: {kind!r}")
    rng = np.random.default_rng([seed, 2])
    width, height = page_size
    if kind == "hard":
        fill = rng.uniform(0.80, 0.88)  # the page's share of the frame's height
        frame_h = int(round(height / fill))
        frame_w = int(round(frame_h * rng.uniform(0.71, 0.76)))
        frame_w = max(frame_w, int(round(width * 1.08)))
    else:
        frame_h = int(rng.integers(1950, 2051))
        frame_w = int(round(frame_h * 0.75))
    rotation = _r(rng.uniform(1.0, 3.0) * rng.choice([-1.0, 1.0]))
    tilt = (_r(rng.uniform(0.02, 0.06) * rng.choice([-1.0, 1.0])), _r(rng.uniform(0.0, 0.03) * rng.choice([-1.0, 1.0])))
    corners = _page_corners((width, height), (frame_w, frame_h), rotation, tilt, rng)
    return Simulation(
        kind=kind,
        seed=seed,
        frame=(frame_w, frame_h),
        corners=corners,
        rotation_deg=rotation,
        tilt=tilt,
        background_rgb=tuple(
            int(np.clip(c + d, 0, 255))
            for c, d in zip(BACKGROUNDS[int(rng.integers(len(BACKGROUNDS)))], rng.integers(-12, 13, 3), strict=True)
        ),
        texture=_r(rng.uniform(0.08, 0.18)),
        gradient=(_r(rng.uniform(0, 360), 1), _r(rng.uniform(0.06, 0.16))),
        vignette=_r(rng.uniform(0.12, 0.28)),
        shadow=(
            _r(rng.uniform(0, 360), 1),
            _r(rng.uniform(0.25, 0.6)),
            _r(rng.uniform(0.18, 0.35)),
            _r(rng.uniform(40, 120), 1),
        ),
        tint=(1.0, _r(rng.uniform(0.93, 0.97)), _r(rng.uniform(0.80, 0.88))),
        levels=(int(rng.integers(28, 56)), int(rng.integers(212, 238))),
        blur_px=_r(rng.uniform(*BLUR_PX), 2),
        noise=_r(rng.uniform(2.5, 4.5), 2),
        jpeg_quality=int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)),
    )


def _page_corners(page_size, frame_size, rotation_deg, tilt, rng) -> tuple[tuple[float, float], ...]:
    """Where the page's four corners land in the frame: tilted (the top edge shorter by ``tilt[0]``, the right edge
    by ``tilt[1]``), rotated about the page's centre, and placed off the frame's centre by a little."""
    w, h = page_size
    fw, fh = frame_size
    tx, ty = tilt
    # Tilt: the edge further from the camera is shorter, the other one longer, by half the tilt each.
    corners = np.array(
        [
            [-w / 2 * (1 - tx / 2) * (1 - ty / 2), -h / 2 * (1 - ty / 2)],
            [w / 2 * (1 - tx / 2) * (1 + ty / 2), -h / 2 * (1 + ty / 2)],
            [w / 2 * (1 + tx / 2) * (1 + ty / 2), h / 2 * (1 + ty / 2)],
            [-w / 2 * (1 + tx / 2) * (1 - ty / 2), h / 2 * (1 - ty / 2)],
        ]
    )
    angle = np.deg2rad(rotation_deg)
    rotate = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = corners @ rotate.T
    span = corners.max(axis=0) - corners.min(axis=0)
    slack = np.maximum(np.array([fw, fh]) - span, 0) / 2
    centre = np.array([fw / 2, fh / 2]) + rng.uniform(-0.6, 0.6, 2) * slack
    return tuple((_r(x, 2), _r(y, 2)) for x, y in corners + centre)


def homography(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 3 x 3 homography taking the four ``source`` points to the four ``target`` points."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(source, target, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        rhs += [u, v]
    h = np.linalg.solve(np.array(rows, dtype=float), np.array(rhs, dtype=float))
    return np.append(h, 1.0).reshape(3, 3)


def map_points(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """``points`` (N, 2) taken through the homography ``matrix``."""
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    lifted = np.hstack([points, np.ones((len(points), 1))]) @ matrix.T
    return lifted[:, :2] / lifted[:, 2:3]


def mapped_box(matrix: np.ndarray, ink: np.ndarray, frame: tuple[int, int]) -> list[int]:
    """The axis-aligned box, in whole photo pixels (x1, y1 exclusive) clipped to ``frame``, of the ink pixels
    ``ink`` ((N, 2) integer (x, y) of the page) after the homography: each pixel's four corners are mapped."""
    ink = np.asarray(ink, dtype=float).reshape(-1, 2)
    corners = np.concatenate([ink + offset for offset in ([0, 0], [1, 0], [0, 1], [1, 1])])
    mapped = map_points(matrix, corners)
    x0, y0 = np.floor(mapped.min(axis=0))
    x1, y1 = np.ceil(mapped.max(axis=0))
    width, height = frame
    return [
        int(np.clip(x0, 0, width)),
        int(np.clip(y0, 0, height)),
        int(np.clip(x1, 0, width)),
        int(np.clip(y1, 0, height)),
    ]


def _smooth_noise(rng: np.random.Generator, size: tuple[int, int], cell: tuple[int, int]) -> np.ndarray:
    """Noise varying over about ``cell`` (w, h) pixels, in [-1, 1], as float32 (rows, columns)."""
    width, height = size
    grid = rng.uniform(0, 255, (height // cell[1] + 2, width // cell[0] + 2)).astype(np.uint8)
    smooth = Image.fromarray(grid, "L").resize(size, Image.Resampling.BICUBIC)
    return np.asarray(smooth, dtype=np.float32) / 127.5 - 1.0


def _background(sim: Simulation, rng: np.random.Generator) -> np.ndarray:
    """The surface the page lies on: a base colour with grain along one direction and blotches, float32 RGB."""
    size = sim.frame
    texture = 0.6 * _smooth_noise(rng, size, (48, 6)) + 0.4 * _smooth_noise(rng, size, (160, 160))
    level = 1.0 + sim.texture * texture
    return np.asarray(sim.background_rgb, dtype=np.float32)[None, None, :] * level[:, :, None]


def _lighting(sim: Simulation) -> np.ndarray:
    """The light falling on the frame, as a gain per pixel (float32 rows x columns): gradient, vignette, shadow."""
    width, height = sim.frame
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width / 2, height / 2
    half_diagonal = float(np.hypot(cx, cy))
    angle, strength = np.deg2rad(sim.gradient[0]), sim.gradient[1]
    gain = 1.0 + strength * ((xs - cx) * np.cos(angle) + (ys - cy) * np.sin(angle)) / half_diagonal
    gain *= 1.0 - sim.vignette * (((xs - cx) ** 2 + (ys - cy) ** 2) / half_diagonal**2)
    direction, offset, depth, softness = sim.shadow
    d = np.deg2rad(direction)
    distance = (xs - cx) * np.cos(d) + (ys - cy) * np.sin(d) - offset * half_diagonal
    gain *= 1.0 - depth / (1.0 + np.exp(-distance / softness))
    return gain.astype(np.float32)


def photograph(page: Image.Image, sim: Simulation) -> tuple[Image.Image, np.ndarray]:
    """The photo ``sim`` describes of ``page`` (RGB, before JPEG), and the homography from page to photo pixels."""
    rng = np.random.default_rng([sim.seed, 3])
    width, height = page.size
    source = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=float)
    matrix = homography(source, np.array(sim.corners, dtype=float))
    inverse = np.linalg.inv(matrix)
    inverse = inverse / inverse[2, 2]
    coefficients = tuple(float(c) for c in inverse.flatten()[:8])
    warped = page.convert("RGB").transform(
        sim.frame, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BICUBIC, fillcolor=(0, 0, 0)
    )
    mask = Image.new("L", page.size, 255).transform(
        sim.frame, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR, fillcolor=0
    )
    alpha = np.asarray(mask, dtype=np.float32)[:, :, None] / 255.0
    # The page's own shadow on the surface, a little down and to the right.
    drop = mask.transform(sim.frame, Image.Transform.AFFINE, (1, 0, -6, 0, 1, -8)).filter(ImageFilter.GaussianBlur(10))
    surface = _background(sim, rng) * (1.0 - 0.35 * np.asarray(drop, dtype=np.float32)[:, :, None] / 255.0)
    scene = np.asarray(warped, dtype=np.float32) * alpha + surface * (1.0 - alpha)
    scene *= _lighting(sim)[:, :, None]
    black, white = sim.levels
    scene = black + scene * ((white - black) / 255.0)
    scene *= np.asarray(sim.tint, dtype=np.float32)[None, None, :]
    image = Image.fromarray(np.clip(np.rint(scene), 0, 255).astype(np.uint8), "RGB")
    image = image.filter(ImageFilter.GaussianBlur(sim.blur_px))
    noisy = np.asarray(image, dtype=np.float32)
    grain = rng.normal(0.0, sim.noise, noisy.shape[:2])[:, :, None]  # luminance noise
    colour = rng.normal(0.0, sim.noise / 3, noisy.shape)  # and a little colour noise
    noisy = noisy + grain + colour
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8), "RGB"), matrix


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """The photo as JPEG with fixed settings (baseline, 4:2:0, no optimisation, no metadata): same pixels, same
    bytes."""
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, subsampling=2, optimize=False, progressive=False)
    return out.getvalue()


def simulate(page: Image.Image, seed: int, kind: str) -> Photo:
    """A phone photo of ``page`` (rendered at ``page_dpi(kind, seed)``): same page and seed, same bytes."""
    sim = draw_simulation(page.size, kind, seed)
    image, matrix = photograph(page, sim)
    return Photo(encode_jpeg(image, sim.jpeg_quality), matrix, sim)
