import cv2
import numpy as np
import pytest

from sot.data import crop as crop_mod
from sot.data.crop import (context_side, crop_affine, crop_and_resize, invert_affine, read_rgb, transform_box,
                           transform_points)
from sot.datasets.base import DatasetFormatError


def _rect_image(box, size=(100, 80)):
    """Black image with the pixels of an integer box ``[x, y, w, h]`` white (the box's exact extent)."""
    img = np.zeros((size[1], size[0], 3), np.uint8)
    x, y, w, h = box
    img[y:y + h, x:x + w] = 255
    return img


def _pixel_box(crop):
    """``[x, y, w, h]`` of the bright rectangle in a crop, to sub-pixel accuracy: its extent along each axis is
    the sum of the (max-projected) coverage profile, its centre the profile's centroid."""
    m = crop[..., 0].astype(np.float64) / 255.0
    out = []
    for prof in (m.max(axis=0), m.max(axis=1)):
        c = ((np.arange(len(prof)) + 0.5) * prof).sum() / prof.sum()
        out.append((c, prof.sum()))
    (cx, w), (cy, h) = out
    return np.array([cx - w / 2, cy - h / 2, w, h])


def test_context_side_scalar_and_array():
    assert context_side(10, 10) == pytest.approx(20.0)
    assert context_side(10, 30, 0.5) == pytest.approx(np.sqrt(30 * 50))
    w, h = np.array([10.0, 10.0]), np.array([10.0, 30.0])
    np.testing.assert_allclose(context_side(w, h), [20.0, np.sqrt(30 * 50)])


def test_centre_pixel_maps_to_center():
    img = np.zeros((60, 80, 3), np.uint8)
    img[30, 40] = 255  # pixel (40, 30): continuous centre (40.5, 30.5)
    crop, A = crop_and_resize(img, (40.5, 30.5), 21, 21, border=0)
    assert crop[10, 10, 0] == 255 and crop.sum() == 3 * 255
    np.testing.assert_allclose(transform_points([40.5, 30.5], A), [10.5, 10.5])  # crop centre out / 2


@pytest.mark.parametrize("flip", [False, True])
@pytest.mark.parametrize("side", [40.0, (40.0, 20.0), 63.0])
def test_box_lands_on_its_pixels(flip, side):
    """A box mapped by transform_box covers the crop pixels its image pixels were warped to."""
    box = np.array([20, 10, 24, 16])
    img = _rect_image(box)
    out = 80
    crop, A = crop_and_resize(img, (33.0, 17.0), side, out, flip=flip, border=0)
    mapped = transform_box(box, A)
    assert mapped[2] > 0 and mapped[3] > 0
    np.testing.assert_allclose(_pixel_box(crop), mapped, atol=0.15)  # a half-pixel slip fails


def test_flip_mirrors_about_crop_centre():
    A = crop_affine((50.0, 40.0), 30.0, 60)
    Af = crop_affine((50.0, 40.0), 30.0, 60, flip=True)
    b = transform_box([45.0, 35.0, 4.0, 6.0], A)
    bf = transform_box([45.0, 35.0, 4.0, 6.0], Af)
    np.testing.assert_allclose(bf, [60 - b[0] - b[2], b[1], b[2], b[3]])


def test_transform_box_round_trip_and_batch():
    A = crop_affine((12.3, 45.6), (50.0, 70.0), 127, flip=True)
    boxes = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 40.0, 5.0, 6.0]])
    back = transform_box(transform_box(boxes, A), invert_affine(A))
    np.testing.assert_allclose(back, boxes, atol=1e-9)
    assert transform_box(boxes, A).shape == (2, 4)


def test_one_warp_per_crop(monkeypatch):
    calls = []
    real = cv2.warpAffine

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    def forbidden(*a, **k):
        raise AssertionError("crop_and_resize must use a single warpAffine")

    monkeypatch.setattr(crop_mod.cv2, "warpAffine", counting)
    for name in ("resize", "flip", "copyMakeBorder"):
        monkeypatch.setattr(crop_mod.cv2, name, forbidden)
    img = np.random.default_rng(0).integers(0, 255, (50, 60, 3), dtype=np.uint8)
    crop, _ = crop_and_resize(img, (-10.0, 70.0), (90.0, 45.0), 31, flip=True)
    assert len(calls) == 1 and crop.shape == (31, 31, 3) and crop.dtype == np.uint8


def test_border_fill():
    img = np.zeros((10, 10, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = 10, 20, 200
    img[0, 0] = (0, 0, 0)
    crop, _ = crop_and_resize(img, (500.0, 500.0), 20, 8)  # entirely outside: all border
    np.testing.assert_allclose(crop.reshape(-1, 3).mean(0), np.round(cv2.mean(img)[:3]), atol=0.5)
    crop, _ = crop_and_resize(img, (500.0, 500.0), 20, 8, border=7)
    assert (crop == 7).all()


def test_read_rgb(tmp_path):
    p = tmp_path / "a.png"
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 200  # blue in BGR
    cv2.imwrite(str(p), bgr)
    rgb = read_rgb(p)
    assert rgb.shape == (4, 5, 3) and (rgb[..., 2] == 200).all() and (rgb[..., 0] == 0).all()
    with pytest.raises(DatasetFormatError, match="missing.png"):
        read_rgb(tmp_path / "missing.png")
