"""Offline stand-ins: synthetic image tasks generated from a seed, with no download.

They let every notebook, test and smoke run exercise the real code paths (shapes, class counts,
splits, training loops) on a machine without the data. They are *not* the papers' data and no
accuracy measured on them says anything about the papers; every bundle built from them says so.

Two generators, both vectorised in torch so a few thousand images take a few seconds on 2 cores:

* ``glyphs`` (Kuzushiji family): each class is a fixed set of brush strokes (cubic Bezier curves
  whose end points sit on a 5x5 grid). Every sample re-draws the class with control-point jitter,
  dropped strokes, stroke-width jitter, an affine map, a smooth elastic warp, a fragment of a
  neighbouring character at the border (as in real page crops) and noise.
* ``scenes`` (CIFAR / Food-101 / ImageNet): each class is a (shape, texture, texture frequency,
  colour pair) combination; a sample puts that object at a random pose among distractor objects
  with random attributes, on a random textured background, behind a random occluder, with colour
  jitter and noise. Class attributes are continuous, so neighbouring classes are confusable.

Determinism: sample ``i`` of a split depends only on (seed, generator, split, i // CHUNK), so a
``limit`` keeps a prefix of the full split and the same seed gives the same bytes.
"""
from __future__ import annotations

import math
import zlib

import numpy as np
import torch
import torch.nn.functional as F

CHUNK = 64             # samples per RNG stream and per vectorised batch (a cap wastes < CHUNK)
MAX_RENDER = 48        # render at most this resolution, then upsample (cost grows with pixels)

# glyph settings: one comment per knob, because each one moves the difficulty
GRID = (-0.7, -0.35, 0.0, 0.35, 0.7)   # stroke end points snap to this grid (in [-1, 1] units)
MAX_STROKES = 6                        # strokes per class: 2..MAX_STROKES
POINTS = 13                            # points along each Bezier curve (12 straight segments)
CTRL_JITTER = 0.08                     # per-sample control-point noise: handwriting variation
DROP_STROKE = 0.10                     # chance a (non-first) stroke is missing in a sample
NEIGHBOUR = 0.6                        # chance of a neighbouring character's fragment at the border
NOISE = 0.08                           # pixel noise std (images in [0, 1])


def _generator(seed: int, *parts: str | int) -> torch.Generator:
    """A torch RNG keyed by the seed and a path of names: independent streams, stable across runs."""
    key = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(p.encode()) if isinstance(p, str) else int(p) for p in parts]
    state = np.random.SeedSequence(key).generate_state(1, dtype=np.uint64)
    return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))


def _uniform(g: torch.Generator, lo: float, hi: float, *shape: int) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(*shape, generator=g)


def _rotation(theta: torch.Tensor) -> torch.Tensor:
    c, s = torch.cos(theta), torch.sin(theta)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def _pixel_grid(res: int) -> torch.Tensor:
    """Pixel centres in [-1, 1]^2 as (res*res, 2) (x, y), row-major like an image."""
    lin = (torch.arange(res, dtype=torch.float32) + 0.5) / res * 2 - 1
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], -1)


def _finish(img: torch.Tensor, image_size: int) -> torch.Tensor:
    """(N, C, r, r) float in ~[0, 1] -> (N, C, s, s) uint8."""
    if img.shape[-1] != image_size:
        img = F.interpolate(img, size=(image_size, image_size), mode="bilinear", align_corners=False,
                            antialias=img.shape[-1] > image_size)
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def _smooth_field(g: torch.Generator, n: int, grid: torch.Tensor, waves: int,
                  freq: float) -> torch.Tensor:
    """Sum of random plane waves: a smooth random field (n, len(grid)), roughly in [-1, 1]."""
    omega = torch.randn(n, waves, 2, generator=g) * freq
    phase = _uniform(g, 0, 2 * math.pi, n, waves, 1)
    return torch.sin(torch.einsum("nwd,pd->nwp", omega, grid) + phase).mean(1) * math.sqrt(2)


# -- glyphs ------------------------------------------------------------------------------

def _glyph_classes(num_classes: int, seed: int) -> dict:
    g = _generator(seed, "glyph-classes")
    k, s = num_classes, MAX_STROKES
    grid = torch.tensor(GRID)
    ends = grid[torch.randint(0, len(GRID), (k, s, 2, 2), generator=g)]
    p0, p3 = ends[:, :, 0], ends[:, :, 1]
    dot = torch.rand(k, s, generator=g) < 0.2          # short strokes: the dots of kana and kanji
    p3 = torch.where(dot[..., None], p0 + 0.15 * torch.randn(k, s, 2, generator=g), p3)
    d = p3 - p0
    perp = torch.stack([-d[..., 1], d[..., 0]], -1)
    bend = 0.45 * torch.randn(k, s, 2, generator=g)   # curvature of the two inner control points
    ctrl = torch.stack([p0, p0 + d / 3 + bend[..., :1] * perp, p0 + 2 * d / 3 + bend[..., 1:] * perp, p3], 2)
    strokes = torch.randint(2, s + 1, (k,), generator=g)
    return {"ctrl": ctrl, "active": torch.arange(s)[None] < strokes[:, None],
            "width": _uniform(g, 0.75, 1.25, k, s)}


def _bezier(ctrl: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Cubic Bezier curves: ctrl (..., 4, 2), t (T,) -> (..., T, 2)."""
    t = t[:, None]
    mt = 1 - t
    c = ctrl.unsqueeze(-2)
    return (mt ** 3 * c[..., 0, :, :] + 3 * mt ** 2 * t * c[..., 1, :, :]
            + 3 * mt * t ** 2 * c[..., 2, :, :] + t ** 3 * c[..., 3, :, :])


def _glyph_ink(classes: dict, labels: torch.Tensor, g: torch.Generator, res: int) -> torch.Tensor:
    """Ink coverage (N, res, res) in [0, 1] for one batch of labels."""
    n, k, s = len(labels), len(classes["ctrl"]), MAX_STROKES
    t = torch.linspace(0, 1, POINTS)
    pressure = 0.6 + 0.4 * torch.sin(math.pi * t)       # brush strokes thin out at their ends

    ctrl = classes["ctrl"][labels] + CTRL_JITTER * torch.randn(n, s, 4, 2, generator=g)
    keep = classes["active"][labels] & (torch.rand(n, s, generator=g) > DROP_STROKE)
    keep[:, 0] = True                                   # never an empty glyph
    base = _uniform(g, 0.055, 0.11, n, 1)               # per-sample pen width (radius)
    width = base * classes["width"][labels] * _uniform(g, 0.8, 1.2, n, s)
    width = torch.where(keep, width, torch.full_like(width, -9.0))  # negative radius never inks

    # a neighbouring character cut by the crop: 3 strokes of another class, shifted to a border
    other = torch.randint(0, k, (n,), generator=g)
    nctrl = classes["ctrl"][other][:, :3] + CTRL_JITTER * torch.randn(n, 3, 4, 2, generator=g)
    side = torch.randint(0, 4, (n,), generator=g)
    along = _uniform(g, -0.5, 0.5, n)
    across = _uniform(g, 1.15, 1.45, n) * torch.where(side % 2 == 0, 1.0, -1.0)
    shift = torch.where((side < 2)[:, None], torch.stack([across, along], -1), torch.stack([along, across], -1))
    nctrl = nctrl + shift[:, None, None, :]
    present = torch.rand(n, 1, generator=g) < NEIGHBOUR
    nwidth = torch.where(present, base * classes["width"][other][:, :3], torch.full((n, 3), -9.0))

    pts = torch.cat([_bezier(ctrl, t), _bezier(nctrl, t)], 1)            # (n, s+3, T, 2)
    rad = torch.cat([width, nwidth], 1)[..., None] * pressure            # (n, s+3, T)
    pts, rad = pts.reshape(n, -1, 2), rad.reshape(n, -1)

    # affine: rotation, anisotropic scale, shear, translation
    a = _rotation(_uniform(g, -0.35, 0.35, n)) @ torch.diag_embed(_uniform(g, 0.75, 1.1, n, 2))
    shear = torch.eye(2).repeat(n, 1, 1)
    shear[:, 0, 1] = _uniform(g, -0.3, 0.3, n)
    a = a @ shear
    pts = pts @ a.transpose(1, 2) + _uniform(g, -0.15, 0.15, n, 1, 2)
    # elastic warp: a smooth displacement field evaluated at the stroke points
    omega = 2.5 * torch.randn(n, 2, 3, 2, generator=g)
    phase = _uniform(g, 0, 2 * math.pi, n, 2, 3, 1)
    amp = _uniform(g, 0.0, 0.06, n, 2, 3, 1)
    disp = (amp * torch.sin(torch.einsum("ncwd,npd->ncwp", omega, pts) + phase)).sum(2)  # (n, 2, P)
    pts = pts + disp.transpose(1, 2)

    pts, rad = pts.reshape(n, -1, POINTS, 2), rad.reshape(n, -1, POINTS)
    a, b = pts[:, :, :-1].reshape(n, -1, 2), pts[:, :, 1:].reshape(n, -1, 2)
    ra, rb = rad[:, :, :-1].reshape(n, -1), rad[:, :, 1:].reshape(n, -1)
    grid = _pixel_grid(res)
    # a few images at a time: the (images, pixels, segments) temporaries then stay in cache (3x faster)
    step = max(1, 2 ** 19 // (len(grid) * a.shape[1]))
    edge = torch.cat([_segment_edge(grid, a[i:i + step], b[i:i + step], ra[i:i + step], rb[i:i + step])
                      for i in range(0, n, step)])
    return (0.5 - edge * (res / 2)).clamp(0, 1).reshape(n, res, res)     # 1-pixel anti-aliasing


def _segment_edge(q: torch.Tensor, a: torch.Tensor, b: torch.Tensor, ra: torch.Tensor,
                  rb: torch.Tensor) -> torch.Tensor:
    """Signed distance from pixels q (Q, 2) to the union of tapered segments a->b (n, M, 2) with
    radii ra->rb (n, M): (n, Q), negative inside the ink. Exact, so thin strokes never bead."""
    ab = b - a
    inv = 1 / (ab.pow(2).sum(-1) + 1e-9)
    wx = q[None, :, None, 0] - a[:, None, :, 0]                          # (n, Q, M)
    wy = q[None, :, None, 1] - a[:, None, :, 1]
    t = ((wx * ab[:, None, :, 0] + wy * ab[:, None, :, 1]) * inv[:, None]).clamp_(0, 1)
    dist = torch.hypot(wx.sub_(t * ab[:, None, :, 0]), wy.sub_(t * ab[:, None, :, 1]))
    return dist.sub_(ra[:, None] + t * (rb - ra)[:, None]).amin(-1)


def _glyph_images(classes: dict, labels: torch.Tensor, g: torch.Generator, image_size: int,
                  channels: int) -> torch.Tensor:
    n = len(labels)
    res = min(image_size, MAX_RENDER)
    ink = _glyph_ink(classes, labels, g, res)[:, None]                   # (n, 1, r, r)
    grid = _pixel_grid(res)
    if channels == 1:
        # KMNIST convention: white ink on black; uneven ink density and a faint smudge field
        level = _uniform(g, 0.65, 1.0, n, 1, 1, 1) * (1 - 0.3 * _smooth_field(g, n, grid, 4, 3.0).abs()
                                                        .reshape(n, 1, res, res))
        img = ink * level + 0.12 * _smooth_field(g, n, grid, 3, 2.0).clamp(min=0).reshape(n, 1, res, res)
    else:
        # page crops: paper colour with stains, brown-black ink
        tone = _uniform(g, 0.7, 0.95, n, 1)
        paper = tone * torch.stack([torch.ones(n), _uniform(g, 0.86, 0.97, n), _uniform(g, 0.7, 0.9, n)], 1)
        stain = 1 - 0.18 * _smooth_field(g, n, grid, 4, 3.0).clamp(min=0).reshape(n, 1, res, res)
        ink_rgb = _uniform(g, 0.05, 0.3, n, 1) * torch.tensor([1.0, 0.85, 0.7])
        img = paper[..., None, None] * stain * (1 - ink) + ink_rgb[..., None, None] * ink
    img = img + NOISE * torch.randn(img.shape, generator=g)
    return _finish(img, image_size)


# -- colour scenes -----------------------------------------------------------------------

N_SHAPES, N_TEXTURES = 6, 4


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """h, s, v broadcastable tensors in [0, 1] -> (..., 3)."""
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], -1)
    return v[..., None] - v[..., None] * s[..., None] * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def _scene_classes(num_classes: int, seed: int) -> dict:
    g = _generator(seed, "scene-classes")
    k = num_classes
    perm = torch.randperm(N_SHAPES * N_TEXTURES, generator=g)
    combo = perm[torch.arange(k) % (N_SHAPES * N_TEXTURES)]   # distinct (shape, texture) first
    return {"shape": combo % N_SHAPES, "texture": combo // N_SHAPES,
            "freq": _uniform(g, 1.5, 4.0, k), "angle": _uniform(g, 0, math.pi, k),
            "hue": torch.rand(k, generator=g), "hue2": _uniform(g, 0.15, 0.5, k)}


def _shape_sdf(u: torch.Tensor) -> torch.Tensor:
    """Signed distances (in object units, <0 inside) of all shapes at local coords u (..., 2)."""
    x, y = u[..., 0], u[..., 1]
    r = u.norm(dim=-1)
    ax, ay = x.abs(), y.abs()
    return torch.stack([
        r - 1,                                                                   # disk
        torch.maximum(ax, ay) - 0.85,                                            # square
        (ax + ay) / 1.3 - 1,                                                     # diamond
        torch.maximum(torch.maximum(-y - 0.5, 0.866 * x + 0.5 * y - 0.5), -0.866 * x + 0.5 * y - 0.5),  # triangle
        (r - 0.72).abs() - 0.28,                                                 # ring
        torch.minimum(torch.maximum(ax - 0.32, ay - 0.95), torch.maximum(ay - 0.32, ax - 0.95)),  # cross
    ], -1)


def _texture(v: torch.Tensor, kind: torch.Tensor, freq: torch.Tensor) -> torch.Tensor:
    """Pattern in [0, 1] at texture coords v (n, P, 2); kind, freq (n,)."""
    f = math.pi * freq[:, None]
    a, b = torch.sin(f * v[..., 0]), torch.sin(f * v[..., 1])
    pats = torch.stack([
        0.5 + 0.5 * a,                                                           # stripes
        0.5 + 0.5 * torch.tanh(3 * a * b),                                       # checker
        0.5 + 0.5 * torch.tanh(3 * (torch.cos(f * v[..., 0]) + torch.cos(f * v[..., 1]) - 1)),  # dots
        0.5 + 0.5 * torch.sin(f * v.norm(dim=-1)),                               # rings
    ], -1)
    return pats.gather(-1, kind[:, None, None].expand(-1, v.shape[1], 1))[..., 0]


def _draw_objects(img: torch.Tensor, grid: torch.Tensor, res: int, g: torch.Generator, shape: torch.Tensor,
                  texture: torch.Tensor, freq: torch.Tensor, angle: torch.Tensor, hue: torch.Tensor,
                  hue2: torch.Tensor, centre: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Composite one textured object per image onto img (n, P, 3)."""
    n = len(shape)
    rot = _rotation(_uniform(g, 0, 2 * math.pi, n))
    u = (grid[None] - centre[:, None]) @ rot / scale[:, None, None]             # object coords
    sdf = _shape_sdf(u).gather(-1, shape[:, None, None].expand(-1, grid.shape[0], 1))[..., 0]
    alpha = (0.5 - sdf * scale[:, None] * (res / 2)).clamp(0, 1)[..., None]
    v = u @ _rotation(angle)                                                    # texture rotates with it
    t = _texture(v, texture, freq)[..., None]
    sat = _uniform(g, 0.45, 1.0, n, 2)
    val = _uniform(g, 0.45, 1.0, n, 2)
    c1 = _hsv_to_rgb(hue % 1, sat[:, 0], val[:, 0])[:, None]
    c2 = _hsv_to_rgb((hue + hue2) % 1, sat[:, 1], val[:, 1])[:, None]
    return img * (1 - alpha) + (c1 * (1 - t) + c2 * t) * alpha


def _random_objects(g: torch.Generator, n: int) -> dict:
    return {"shape": torch.randint(0, N_SHAPES, (n,), generator=g),
            "texture": torch.randint(0, N_TEXTURES, (n,), generator=g),
            "freq": _uniform(g, 1.5, 4.0, n), "angle": _uniform(g, 0, math.pi, n),
            "hue": torch.rand(n, generator=g), "hue2": _uniform(g, 0.15, 0.5, n),
            "centre": _uniform(g, -0.9, 0.9, n, 2), "scale": _uniform(g, 0.15, 0.35, n)}


def _scene_images(classes: dict, labels: torch.Tensor, g: torch.Generator, image_size: int,
                  channels: int) -> torch.Tensor:
    n = len(labels)
    res = min(image_size, MAX_RENDER)
    grid = _pixel_grid(res)
    # background: a colour gradient plus a random wave texture in a third colour
    cols = _hsv_to_rgb(torch.rand(n, 3, generator=g), _uniform(g, 0.1, 0.8, n, 3), _uniform(g, 0.3, 0.95, n, 3))
    direction = F.normalize(torch.randn(n, 2, generator=g), dim=-1)
    ramp = (0.5 + 0.5 * (grid @ direction.T).T)[..., None]                     # (n, P, 1)
    wave = (0.5 + 0.5 * _smooth_field(g, n, grid, 3, 6.0))[..., None].clamp(0, 1)
    img = cols[:, None, 0] * (1 - ramp) + cols[:, None, 1] * ramp
    img = img * (1 - 0.5 * wave) + cols[:, None, 2] * 0.5 * wave

    behind = _random_objects(g, n)
    img = _draw_objects(img, grid, res, g, **behind)
    main = {k: v[labels] for k, v in classes.items()}
    main["freq"] = main["freq"] * _uniform(g, 0.85, 1.15, n)
    main["angle"] = main["angle"] + _uniform(g, -0.25, 0.25, n)
    main["hue"] = main["hue"] + 0.06 * torch.randn(n, generator=g)
    img = _draw_objects(img, grid, res, g, **main, centre=_uniform(g, -0.3, 0.3, n, 2),
                        scale=_uniform(g, 0.4, 0.65, n))
    front = _random_objects(g, n)
    front_on = torch.rand(n, generator=g) < 0.5
    img = torch.where(front_on[:, None, None], _draw_objects(img, grid, res, g, **front), img)
    # occluder: a flat rectangle of a random colour over part of the scene
    lo = _uniform(g, -1.0, 0.6, n, 2)
    hi = lo + _uniform(g, 0.2, 0.6, n, 2)
    inside = ((grid[None] > lo[:, None]) & (grid[None] < hi[:, None])).all(-1)
    inside &= (torch.rand(n, 1, generator=g) < 0.4)
    img = torch.where(inside[..., None], torch.rand(n, 1, 3, generator=g), img)
    # colour jitter (per-channel gain, brightness, contrast) and noise
    img = img * _uniform(g, 0.8, 1.2, n, 1, 3) * _uniform(g, 0.7, 1.3, n, 1, 1)
    mean = img.mean((1, 2), keepdim=True)
    img = (img - mean) * _uniform(g, 0.6, 1.3, n, 1, 1) + mean
    img = img.transpose(1, 2).reshape(n, 3, res, res)
    if channels == 1:
        img = (img * torch.tensor([0.299, 0.587, 0.114])[:, None, None]).sum(1, keepdim=True)
    img = img + 0.05 * torch.randn(img.shape, generator=g)
    return _finish(img, image_size)


GENERATORS = {"glyphs": (_glyph_classes, _glyph_images), "scenes": (_scene_classes, _scene_images)}


def generate(kind: str, num_classes: int, sizes: dict[str, int], image_size: int, channels: int,
             seed: int = 0) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Images (N, C, S, S) uint8 and labels (N,) int64 for each split in ``sizes``.

    Labels cycle through the classes (sample i has label i % num_classes), so every split is
    balanced and a prefix of a split is as balanced as it can be.
    """
    threads = torch.get_num_threads()
    # One thread: the batches are small, and on a busy machine OpenMP's spinning workers made a
    # 2-thread run 10-40x slower than a 1-thread one (measured on the project's 2-core boxes).
    torch.set_num_threads(1)
    try:
        return _generate(kind, num_classes, sizes, image_size, channels, seed)
    finally:
        torch.set_num_threads(threads)


def _generate(kind: str, num_classes: int, sizes: dict[str, int], image_size: int, channels: int,
              seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    make_classes, make_images = GENERATORS[kind]
    classes = make_classes(num_classes, seed)
    out = {}
    for split, size in sizes.items():
        xs, ys = [], []
        for start in range(0, size, CHUNK):
            # always a whole chunk from its own stream, then cut: a shorter split is a prefix
            labels = torch.arange(start, start + CHUNK) % num_classes
            g = _generator(seed, kind, split, start // CHUNK)
            keep = min(CHUNK, size - start)
            xs.append(make_images(classes, labels, g, image_size, channels)[:keep])
            ys.append(labels[:keep])
        out[split] = (torch.cat(xs) if xs else torch.zeros(0, channels, image_size, image_size, dtype=torch.uint8),
                      torch.cat(ys) if ys else torch.zeros(0, dtype=torch.int64))
    return out
