"""A deterministic synthetic tracking data set written in the GOT-10k layout (read it with ``GOT10k``).

Each sequence shows one textured target on a cluttered, slowly panning textured background, with look-alike
distractors, occluder patches crossing the target, a drifting illumination, motion blur, and sometimes the
target leaving the frame. Ground truth is the axis-aligned bound of the (rotated) target shape, in the house
``[x, y, w, h]`` convention; it is written even when the target is outside the image (as GOT-10k does).
Labels follow GOT-10k: ``absence`` = 1 where no part of the target is inside the image, ``cover`` = visible
fraction of the target binned to 0..8 (0 = fully occluded or absent, 8 = more than 7/8 visible),
``cut_by_image`` = 1 where the box reaches outside the image.

Difficulty knobs of :func:`generate_synthetic` (defaults; the same for every split):

==================  =============  ===========================================================================
``target_size``     (24, 72)       range of ``sqrt(w * h)`` of the target at its first frame, px (log-uniform)
``aspect_range``    (0.5, 2.0)     range of the first-frame ``w / h`` (log-uniform)
``scale_change``    1.6            the target's size stays within ``[1/x, x]`` of its first size
``aspect_change``   1.3            the aspect ratio stays within ``[1/x, x]`` of its first value
``max_rotation``    30.0           in-plane rotation bound, degrees
``max_speed``       6.0            px per frame (1.5x while leaving the frame)
``max_distractors`` 2              look-alikes per sequence, uniform in ``0..max``; 30% pass in front
``occluder_prob``   0.5            chance of each of up to ``max_occluders`` (2) occluders crossing the target
``exit_prob``       0.15           chance that the target leaves the frame (and comes back if time allows)
``illumination``    0.3            gain drifts within ``exp(+-x)``, bias within ``+-60 x`` grey levels
``motion_blur``     0.6            target blur kernel length = ``x * speed`` px (0: off)
``camera_pan``      8              background pan amplitude, px
``clutter``         12             mean number of clutter shapes drawn into the background
==================  =============  ===========================================================================
"""
from __future__ import annotations

import hashlib
import json
import math
import multiprocessing as mp
import os
import shutil
import zlib
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from sot.data.crop import _to_cv2, transform_points

__all__ = ["generate_synthetic", "render_sequence", "GENERATOR_VERSION"]

GENERATOR_VERSION = 1
MARKER = ".complete"
_SPRITE = 96  # side of the texture sprites, px; drawn once per object and warped each frame
_KINDS = ("stripes", "checker", "dots", "noise", "blobs")
_SPLIT_NAMES = {"train": "Train", "val": "Val", "test": "Test"}


# ----------------------------------------------------------------------------------------------- textures
def _recipe(rng: np.random.Generator) -> dict:
    """Parameters of one texture family (kind, frequencies, palette)."""
    k = int(rng.integers(2, 5))
    return {
        "kinds": [str(x) for x in rng.choice(_KINDS, size=int(rng.integers(1, 3)), replace=False)],
        "palette": rng.uniform(0, 255, size=(k, 3)),
        "grid": int(rng.integers(2, 6)),
        "freq": float(rng.uniform(2, 8)),  # stripes / checker cycles per sprite
        "angle": float(rng.uniform(0, np.pi)),
        "contrast": float(rng.uniform(0.5, 1.0)),
    }


def _perturb(recipe: dict, rng: np.random.Generator, amount: float = 45.0) -> dict:
    """A look-alike: the same texture family with its colours perturbed."""
    out = dict(recipe)
    out["palette"] = np.clip(recipe["palette"] + rng.normal(0, amount, size=recipe["palette"].shape), 0, 255)
    out["angle"] = recipe["angle"] + float(rng.normal(0, 0.3))
    return out


def _texture(rng: np.random.Generator, recipe: dict, h: int, w: int) -> np.ndarray:
    """``(h, w, 3)`` float32 texture of a family: palette blobs overlaid with the family's patterns."""
    pal = recipe["palette"]
    g = recipe["grid"]
    weights = rng.dirichlet(np.full(len(pal), 0.5), size=(g, max(1, g * w // h)))
    tex = cv2.resize((weights @ pal).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    a = recipe["angle"]
    u = (xx * math.cos(a) + yy * math.sin(a)) / max(h, w)
    v = (-xx * math.sin(a) + yy * math.cos(a)) / max(h, w)
    c2 = pal[int(rng.integers(len(pal)))].astype(np.float32)
    for kind in recipe["kinds"]:
        if kind == "stripes":
            m = 0.5 + 0.5 * np.tanh(4 * np.sin(2 * np.pi * recipe["freq"] * u + rng.uniform(0, 6.3)))
        elif kind == "checker":
            f = recipe["freq"]
            m = ((np.floor(u * f) + np.floor(v * f)) % 2).astype(np.float32)
        elif kind == "dots":
            m = np.zeros((h, w), np.float32)
            for _ in range(int(rng.integers(3, 9))):
                c = (int(rng.integers(w)), int(rng.integers(h)))
                cv2.circle(m, c, int(rng.integers(2, max(3, min(h, w) // 5))), 1.0, -1, cv2.LINE_AA)
        elif kind == "noise":
            m = cv2.GaussianBlur(rng.random((h, w), dtype=np.float32), (0, 0), 1.0)
            m = np.clip((m - 0.5) * 4 + 0.5, 0, 1)
        else:  # blobs
            m = cv2.resize(rng.random((g + 2, g + 2), dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
            m = (m > 0.5).astype(np.float32)
        m = (m * recipe["contrast"])[..., None]
        tex = tex * (1 - m) + c2 * m
        c2 = pal[int(rng.integers(len(pal)))].astype(np.float32)
    return np.clip(tex, 0, 255).astype(np.float32)


def _shape_points(rng: np.random.Generator, kind: str | None = None) -> tuple[str, np.ndarray]:
    """A shape outline as polygon vertices spanning exactly ``[0, _SPRITE]^2`` (continuous coordinates)."""
    kind = kind or str(rng.choice(["ellipse", "rectangle", "polygon"]))
    if kind == "ellipse":
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        pts = np.stack([np.cos(t), np.sin(t)], 1)
    elif kind == "rectangle":
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)
    else:  # star-shaped random polygon
        n = int(rng.integers(5, 10))
        t = np.sort(rng.uniform(0, 2 * np.pi, n))
        r = rng.uniform(0.55, 1.0, n)
        pts = np.stack([r * np.cos(t), r * np.sin(t)], 1)
    lo, hi = pts.min(0), pts.max(0)
    return kind, (pts - lo) / (hi - lo) * _SPRITE


def _sprite(rng: np.random.Generator, recipe: dict, pts: np.ndarray) -> tuple[np.ndarray, float]:
    """``(_SPRITE, _SPRITE, 4)`` float32 premultiplied RGBA sprite, and its alpha sum (area in sprite px)."""
    mask = np.zeros((_SPRITE, _SPRITE), np.uint8)
    cv2.fillPoly(mask, [np.round((pts - 0.5) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    alpha = mask.astype(np.float32) / 255.0
    rgb = _texture(rng, recipe, _SPRITE, _SPRITE)
    return np.concatenate([rgb * alpha[..., None], alpha[..., None]], axis=2), float(alpha.sum())


def _background(rng: np.random.Generator, h: int, w: int, clutter: float) -> np.ndarray:
    """``(h, w, 3)`` uint8 textured, cluttered background."""
    bg = _texture(rng, _recipe(rng), h, w)
    # a second, coarser family blended in so that the background is not one flat pattern
    bg2 = _texture(rng, _recipe(rng), h, w)
    m = cv2.resize(rng.random((3, 4), dtype=np.float32), (w, h), interpolation=cv2.INTER_CUBIC)[..., None]
    bg = bg * np.clip(m, 0, 1) + bg2 * (1 - np.clip(m, 0, 1))
    bg = np.clip(bg, 0, 255).astype(np.uint8)
    for _ in range(int(rng.poisson(clutter))):
        color = tuple(float(c) for c in rng.uniform(0, 255, 3))
        x, y = int(rng.integers(w)), int(rng.integers(h))
        s = int(rng.integers(3, max(4, min(h, w) // 6)))
        kind = rng.integers(4)
        if kind == 0:
            cv2.rectangle(bg, (x, y), (x + s, y + int(rng.integers(3, 2 * s + 4))), color, -1)
        elif kind == 1:
            cv2.circle(bg, (x, y), s, color, -1, cv2.LINE_AA)
        elif kind == 2:
            cv2.line(bg, (x, y), (int(rng.integers(w)), int(rng.integers(h))), color, int(rng.integers(1, 4)),
                     cv2.LINE_AA)
        else:
            cv2.ellipse(bg, (x, y), (s, max(2, s // 2)), float(rng.uniform(0, 180)), 0, 360, color, -1, cv2.LINE_AA)
    noise = rng.normal(0, 6, size=bg.shape).astype(np.float32)
    return np.clip(bg.astype(np.float32) + noise, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------------- motion
def _walk(rng: np.random.Generator, n: int, std: float, bound: float, momentum: float = 0.85) -> np.ndarray:
    """A smooth random walk (AR(1) velocity) reflected into ``[-bound, bound]``."""
    x = np.empty(n)
    cur, vel = rng.uniform(-0.5, 0.5) * bound, 0.0
    for t in range(n):
        x[t] = cur
        vel = momentum * vel + rng.normal(0, std)
        cur += vel
        if cur > bound:
            cur, vel = 2 * bound - cur, -vel
        elif cur < -bound:
            cur, vel = -2 * bound - cur, -vel
    return x


def _trajectory(rng: np.random.Generator, n: int, W: int, H: int, size: float, max_speed: float,
                exit_: bool) -> np.ndarray:
    """``(n, 2)`` smooth centre path: a damped spring towards anchors that jump every 8..20 frames.

    With ``exit_`` the anchor moves beyond the nearest border until the target has been fully outside
    for a few frames; then it returns to the image.
    """
    def inner():
        return np.array([rng.uniform(0.15, 0.85) * W, rng.uniform(0.15, 0.85) * H])

    p, v = inner(), rng.normal(0, max_speed / 3, 2)
    anchor, next_jump = inner(), int(rng.integers(8, 21))
    t_exit = int(rng.integers(int(0.15 * n), max(int(0.15 * n) + 1, int(0.6 * n)))) if exit_ else n
    exiting, hold = False, 0
    out = np.empty((n, 2))
    for t in range(n):
        out[t] = p
        if t == next_jump:
            anchor, next_jump = inner(), t + int(rng.integers(8, 21))
        if t == t_exit:
            exiting, hold = True, int(rng.integers(2, 8))
            d = np.array([p[0], W - p[0], p[1], H - p[1]])
            side = int(np.argmin(d + rng.uniform(0, 20, 4)))
            far = 1.5 * size + 10
            exit_anchor = {0: (-far, p[1]), 1: (W + far, p[1]), 2: (p[0], -far), 3: (p[0], H + far)}[side]
            exit_anchor = np.array(exit_anchor, dtype=np.float64)
        if exiting:
            outside = p[0] < -size or p[0] > W + size or p[1] < -size or p[1] > H + size
            hold -= int(outside)
            if hold <= 0:
                exiting, anchor, next_jump = False, inner(), t + int(rng.integers(8, 21))
        target = exit_anchor if exiting else anchor
        speed_cap = max_speed * (1.5 if exiting else 1.0)
        v = 0.8 * v + 0.04 * (target - p) + rng.normal(0, 0.35 * max_speed, 2)
        sp = float(np.hypot(*v))
        if sp > speed_cap:
            v *= speed_cap / sp
        p = p + v
    return out


# ------------------------------------------------------------------------------------------------ drawing
def _blur_kernel(vx: float, vy: float, length: float) -> np.ndarray | None:
    """A normalised linear motion-blur kernel along ``(vx, vy)``; None when shorter than 1.5 px."""
    if length < 1.5:
        return None
    k = int(math.ceil(length)) | 1
    k += 2
    img = np.zeros((k, k), np.uint8)
    sp = math.hypot(vx, vy) or 1.0
    dx, dy = vx / sp * length / 2, vy / sp * length / 2
    c = (k - 1) / 2
    p1 = (round((c - dx) * 16), round((c - dy) * 16))
    p2 = (round((c + dx) * 16), round((c + dy) * 16))
    cv2.line(img, p1, p2, 255, 1, cv2.LINE_AA, shift=4)
    ker = img.astype(np.float32)
    return ker / ker.sum()


def _object_affine(center, w: float, h: float, theta: float) -> np.ndarray:
    """Sprite (continuous px) -> image affine for a ``w x h`` object rotated by ``theta`` about ``center``."""
    c, s = math.cos(theta), math.sin(theta)
    L = np.array([[c, -s], [s, c]]) @ np.diag([w / _SPRITE, h / _SPRITE])
    t = np.asarray(center, np.float64) - L @ np.array([_SPRITE / 2, _SPRITE / 2])
    return np.concatenate([L, t[:, None]], axis=1)


def _render_layer(sprite: np.ndarray, A: np.ndarray, W: int, H: int, kernel: np.ndarray | None):
    """Warp a sprite into its image ROI. Returns ``(x0, y0, layer)`` (premultiplied RGBA) or None if off-image."""
    pad = 0 if kernel is None else kernel.shape[0] // 2 + 1
    corners = transform_points(np.array([[0, 0], [_SPRITE, 0], [0, _SPRITE], [_SPRITE, _SPRITE]], float), A)
    x0 = max(0, int(math.floor(corners[:, 0].min())) - pad)
    y0 = max(0, int(math.floor(corners[:, 1].min())) - pad)
    x1 = min(W, int(math.ceil(corners[:, 0].max())) + pad)
    y1 = min(H, int(math.ceil(corners[:, 1].max())) + pad)
    if x1 <= x0 or y1 <= y0:
        return None
    Ar = A.copy()
    Ar[:, 2] -= (x0, y0)
    layer = cv2.warpAffine(sprite, _to_cv2(Ar), (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if kernel is not None:
        layer = cv2.filter2D(layer, -1, kernel, borderType=cv2.BORDER_CONSTANT)
    return x0, y0, layer


def _composite(frame: np.ndarray, placed) -> None:
    x0, y0, layer = placed
    h, w = layer.shape[:2]
    roi = frame[y0:y0 + h, x0:x0 + w]
    roi *= 1.0 - layer[..., 3:4]
    roi += layer[..., :3]


def _occlude(vis: np.ndarray, tx: int, ty: int, placed) -> None:
    """Multiply the target's visible alpha ``vis`` (at ``tx, ty``) by ``1 - alpha`` of a layer in front."""
    x0, y0, layer = placed
    ax0, ay0 = max(tx, x0), max(ty, y0)
    ax1, ay1 = min(tx + vis.shape[1], x0 + layer.shape[1]), min(ty + vis.shape[0], y0 + layer.shape[0])
    if ax1 > ax0 and ay1 > ay0:
        vis[ay0 - ty:ay1 - ty, ax0 - tx:ax1 - tx] *= 1.0 - layer[ay0 - y0:ay1 - y0, ax0 - x0:ax1 - x0, 3]


class _Object:
    """A textured sprite with per-frame centre, size and rotation."""

    def __init__(self, rng, recipe, n, W, H, size, aspect, p, exit_=False, shape=None):
        self.shape, self.pts = _shape_points(rng, shape)
        self.sprite, self.area = _sprite(rng, recipe, self.pts)
        self.center = _trajectory(rng, n, W, H, size, p["max_speed"], exit_)
        ls = _walk(rng, n, 0.02, math.log(p["scale_change"]))
        la = _walk(rng, n, 0.01, math.log(p["aspect_change"]))
        self.theta = np.deg2rad(_walk(rng, n, 0.8, p["max_rotation"]))
        s = size * np.exp(ls - ls[0])
        a = aspect * np.exp(la - la[0])
        self.w, self.h = s * np.sqrt(a), s / np.sqrt(a)
        vel = np.diff(self.center, axis=0, prepend=self.center[:1])
        self.speed = np.hypot(vel[:, 0], vel[:, 1])
        self.vel = vel

    def affine(self, t: int) -> np.ndarray:
        return _object_affine(self.center[t], self.w[t], self.h[t], self.theta[t])


# ----------------------------------------------------------------------------------------------- sequences
def _sequence_seed(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(split.encode()), int(index)])


def render_sequence(params: dict, split: str, index: int):
    """Render one sequence in memory.

    Returns ``(frames, boxes, absence, cover, cut_by_image, meta)``: ``frames`` a list of ``(H, W, 3)``
    ``uint8`` images (BGR byte order, ready for ``cv2.imencode``), ``boxes`` ``(n, 4)`` ``[x, y, w, h]``.
    """
    rng = _sequence_seed(params["seed"], split, index)
    W, H = params["image_size"]
    n = params["frames_per_sequence"]
    m = int(params["camera_pan"])
    bg = _background(rng, H + 2 * m, W + 2 * m, params["clutter"])
    pan_x = np.round(m + _walk(rng, n, 0.3, m, 0.9)).astype(int) if m else np.zeros(n, int)
    pan_y = np.round(m + _walk(rng, n, 0.3, m, 0.9)).astype(int) if m else np.zeros(n, int)

    lo, hi = params["target_size"]
    size = float(np.exp(rng.uniform(math.log(lo), math.log(hi))))
    alo, ahi = params["aspect_range"]
    aspect = float(np.exp(rng.uniform(math.log(alo), math.log(ahi))))
    recipe = _recipe(rng)
    exit_ = bool(rng.random() < params["exit_prob"])
    target = _Object(rng, recipe, n, W, H, size, aspect, params, exit_=exit_)

    distractors, front = [], []
    for _ in range(int(rng.integers(0, params["max_distractors"] + 1))):
        d_size = size * float(rng.uniform(0.7, 1.3))
        d_aspect = aspect * float(np.exp(rng.normal(0, 0.15)))
        distractors.append(_Object(rng, _perturb(recipe, rng), n, W, H, d_size, d_aspect, params,
                                   shape=target.shape if rng.random() < 0.7 else None))
        front.append(bool(rng.random() < 0.3))

    occluders = []  # (sprite, path (n, 2), w, h, theta): straight paths crossing the target's
    for _ in range(params["max_occluders"]):
        if rng.random() >= params["occluder_prob"]:
            continue
        _, pts = _shape_points(rng, str(rng.choice(["rectangle", "ellipse"])))
        sprite, _ = _sprite(rng, _recipe(rng), pts)
        t_c = int(rng.integers(int(0.1 * n), max(int(0.1 * n) + 1, int(0.9 * n))))
        c0 = target.center[t_c] + rng.normal(0, 0.3 * size, 2)
        ang = rng.uniform(0, 2 * np.pi)
        vel = rng.uniform(1.0, 0.8 * params["max_speed"] + 1.0) * np.array([math.cos(ang), math.sin(ang)])
        path = c0 + (np.arange(n) - t_c)[:, None] * vel
        ow, oh = size * rng.uniform(0.5, 1.4, 2)
        occluders.append((sprite, path, float(ow), float(oh), float(rng.uniform(-0.4, 0.4))))

    ill = params["illumination"]
    gain = np.exp(_walk(rng, n, 0.02 * ill / 0.3, ill))
    tint = np.exp(np.stack([_walk(rng, n, 0.005, 0.1 * ill) for _ in range(3)], 1))
    bias = _walk(rng, n, 2.0 * ill / 0.3, 60 * ill)

    frames, boxes = [], np.empty((n, 4))
    absence, cover, cut = (np.zeros(n, np.int8) for _ in range(3))
    for t in range(n):
        frame = bg[pan_y[t]:pan_y[t] + H, pan_x[t]:pan_x[t] + W].astype(np.float32)
        front_layers = []
        for d, is_front in zip(distractors, front):
            k = _blur_kernel(d.vel[t, 0], d.vel[t, 1], params["motion_blur"] * d.speed[t])
            placed = _render_layer(d.sprite, d.affine(t), W, H, k)
            if placed is not None:
                (front_layers.append(placed) if is_front else _composite(frame, placed))
        A = target.affine(t)
        q = transform_points(target.pts, A)
        x1, y1 = q.min(0)
        x2, y2 = q.max(0)
        boxes[t] = (x1, y1, x2 - x1, y2 - y1)
        k = _blur_kernel(target.vel[t, 0], target.vel[t, 1], params["motion_blur"] * target.speed[t])
        placed = _render_layer(target.sprite, A, W, H, k)
        inside = 0.0
        if placed is not None:
            _composite(frame, placed)
            vis = placed[2][..., 3].copy()
            inside = float(vis.sum())
        for sprite, path, ow, oh, th in occluders:
            o = _render_layer(sprite, _object_affine(path[t], ow, oh, th), W, H, None)
            if o is not None:
                front_layers.append(o)
        for layer in front_layers:
            _composite(frame, layer)
            if placed is not None:
                _occlude(vis, placed[0], placed[1], layer)
        total = target.area * (target.w[t] / _SPRITE) * (target.h[t] / _SPRITE)
        if inside < 0.5:
            absence[t], cover[t] = 1, 0
        else:
            frac = float(vis.sum()) / total
            cover[t] = 0 if frac < 1e-3 else int(np.clip(math.ceil(frac * 8 - 1e-6), 1, 8))
        cut[t] = int(x1 < 0 or y1 < 0 or x2 > W or y2 > H)
        # illumination: per-channel gain (global gain x tint) and a global bias, one pass
        M = np.zeros((3, 4), np.float32)
        M[[0, 1, 2], [0, 1, 2]] = gain[t] * tint[t]
        M[:, 3] = bias[t]
        frames.append(cv2.convertScaleAbs(cv2.transform(frame, M)))
    meta = {
        "object_class": f"synthetic_{target.shape}",
        "motion_class": "leaving" if exit_ else "wandering",
        "major_class": "synthetic",
        "root_class": "synthetic",
        "motion_adverb": "fast" if target.speed.mean() > 0.5 * params["max_speed"] else "slowly",
        "resolution": f"({W}, {H})",
        "anno_fps": "10Hz",
        "texture": "+".join(recipe["kinds"]),
        "distractors": str(len(distractors)),
        "occluders": str(len(occluders)),
    }
    return frames, boxes, absence, cover, cut, meta


def _write_sequence(task) -> int:
    params, split, index, seq_dir = task
    frames, boxes, absence, cover, cut, meta = render_sequence(params, split, index)
    seq_dir = Path(seq_dir)
    seq_dir.mkdir(parents=True, exist_ok=True)
    enc = [cv2.IMWRITE_JPEG_QUALITY, int(params["jpeg_quality"])]
    for i, frame in enumerate(frames, 1):
        ok, buf = cv2.imencode(".jpg", frame, enc)
        if not ok:  # pragma: no cover
            raise RuntimeError(f"JPEG encoding failed for {seq_dir}/{i:08d}.jpg")
        buf.tofile(str(seq_dir / f"{i:08d}.jpg"))
    rows = boxes[:1] if (split == "test" and params["test_first_row_only"]) else boxes
    (seq_dir / "groundtruth.txt").write_text("".join(f"{x:.4f},{y:.4f},{w:.4f},{h:.4f}\n" for x, y, w, h in rows))
    if not (split == "test" and params["test_first_row_only"]):
        for name, arr in (("absence", absence), ("cover", cover), ("cut_by_image", cut)):
            (seq_dir / f"{name}.label").write_text("".join(f"{int(v)}\n" for v in arr))
        (seq_dir / "meta_info.ini").write_text("[METAINFO]\n" + "".join(f"{k}: {v}\n" for k, v in meta.items()))
    return len(frames)


def _worker_init():
    cv2.setNumThreads(1)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def generate_synthetic(
    root: str | Path,
    num_sequences: dict[str, int] | None = None,
    frames_per_sequence: int = 50,
    image_size: tuple[int, int] = (256, 192),
    seed: int = 0,
    target_size: tuple[float, float] = (24.0, 72.0),
    aspect_range: tuple[float, float] = (0.5, 2.0),
    scale_change: float = 1.6,
    aspect_change: float = 1.3,
    max_rotation: float = 30.0,
    max_speed: float = 6.0,
    max_distractors: int = 2,
    occluder_prob: float = 0.5,
    max_occluders: int = 2,
    exit_prob: float = 0.15,
    illumination: float = 0.3,
    motion_blur: float = 0.6,
    camera_pan: int = 8,
    clutter: float = 12.0,
    jpeg_quality: int = 90,
    test_first_row_only: bool = False,
    num_workers: int = 0,
    progress: bool = True,
) -> Path:
    """Write (once) a synthetic data set in the GOT-10k layout and return its folder.

    The folder is ``root/synthetic_got10k_<fingerprint of every parameter>/``; it holds ``train/``, ``val/``,
    ``test/`` (those with a positive count), ``params.json`` and, written last, the marker ``.complete``.
    A later call with the same parameters returns it without writing. It is built in a temporary sibling
    folder and renamed into place, so an interrupted run never leaves a folder that looks complete; a
    folder without the marker is removed and regenerated.

    Args:
        root: parent folder.
        num_sequences: sequences per split; default ``{'train': 200, 'val': 20, 'test': 20}``.
        frames_per_sequence: frames in every sequence.
        image_size: ``(W, H)`` in px.
        seed: every sequence draws from its own generator seeded with ``(seed, split, index)``.
        test_first_row_only: write the test split like GOT-10k's (only the first box, no label files).
        num_workers: processes used to render (0: this process). Does not change the output.
        progress: show a tqdm bar.
        The remaining arguments are the difficulty knobs listed in the module docstring.
    """
    if num_sequences is None:
        num_sequences = {"train": 200, "val": 20, "test": 20}
    bad = set(num_sequences) - set(_SPLIT_NAMES)
    if bad:
        raise ValueError(f"num_sequences keys must be among {sorted(_SPLIT_NAMES)}, got {sorted(bad)}")
    params = {
        "version": GENERATOR_VERSION,
        "num_sequences": {k: int(num_sequences[k]) for k in sorted(num_sequences)},
        "frames_per_sequence": int(frames_per_sequence),
        "image_size": [int(image_size[0]), int(image_size[1])],
        "seed": int(seed),
        "target_size": [float(v) for v in target_size],
        "aspect_range": [float(v) for v in aspect_range],
        "scale_change": float(scale_change),
        "aspect_change": float(aspect_change),
        "max_rotation": float(max_rotation),
        "max_speed": float(max_speed),
        "max_distractors": int(max_distractors),
        "occluder_prob": float(occluder_prob),
        "max_occluders": int(max_occluders),
        "exit_prob": float(exit_prob),
        "illumination": float(illumination),
        "motion_blur": float(motion_blur),
        "camera_pan": int(camera_pan),
        "clutter": float(clutter),
        "jpeg_quality": int(jpeg_quality),
        "test_first_row_only": bool(test_first_row_only),
    }
    text = json.dumps(params, sort_keys=True)
    name = f"synthetic_got10k_{hashlib.sha1(text.encode()).hexdigest()[:12]}"
    root = Path(root).expanduser()
    out = root / name
    if (out / MARKER).is_file():
        return out
    root.mkdir(parents=True, exist_ok=True)
    if out.exists():  # left by an interrupted run of an older writer or by hand: not trusted
        shutil.rmtree(out)
    for stale in root.glob(f".{name}.tmp-*"):  # temporary folders of dead writers
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)

    tmp = root / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        (tmp / "params.json").write_text(json.dumps(params, indent=2, sort_keys=True))
        tasks = []
        for split, count in params["num_sequences"].items():
            if count <= 0:
                continue
            seqs = [f"GOT-10k_{_SPLIT_NAMES[split]}_{i + 1:06d}" for i in range(count)]
            (tmp / split).mkdir()
            tasks += [(params, split, i, str(tmp / split / s)) for i, s in enumerate(seqs)]
            (tmp / split / "list.txt").write_text("".join(s + "\n" for s in seqs))
        bar = tqdm(total=len(tasks) * params["frames_per_sequence"], unit="frame", disable=not progress,
                   desc=f"synthetic GOT-10k -> {out}")
        if num_workers > 0:
            # spawn, not fork: a forked child inherits OpenCV's thread pool in a broken state and can hang
            with mp.get_context("spawn").Pool(num_workers, initializer=_worker_init) as pool:
                for k in pool.imap_unordered(_write_sequence, tasks, chunksize=4):
                    bar.update(k)
        else:
            for task in tasks:
                bar.update(_write_sequence(task))
        bar.close()
        (tmp / MARKER).write_text(text)
        try:
            os.rename(tmp, out)
        except OSError:
            if not (out / MARKER).is_file():  # pragma: no cover
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process finished the same folder first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
