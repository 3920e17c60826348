import cv2
import numpy as np
import pytest
import torch

from sot.data.pair_dataset import PairDataset
from sot.data.synthetic import generate_synthetic
from sot.datasets.base import DatasetFormatError, Sequence, SequenceDataset
from sot.datasets.got10k import GOT10k

SMALL = dict(template_size=31, search_size=63, shift=16.0)


class ListDataset(SequenceDataset):
    def __init__(self, root, sequences):
        super().__init__(root)
        self.sequences = sequences


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = generate_synthetic(tmp_path_factory.mktemp("synth"), num_sequences={"train": 4}, frames_per_sequence=10,
                              image_size=(96, 72), target_size=(14.0, 24.0), progress=False)
    return GOT10k(root, "train")


def _rect_sequence(folder, name, boxes, ext=".png", visible=None):
    """Frames: a white axis-aligned rectangle (exactly the box) on a grey background."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for i, (x, y, w, h) in enumerate(boxes):
        img = np.full((72, 96, 3), 40, np.uint8)
        img[y:y + h, x:x + w] = 255
        f = folder / f"{name}_{i:03d}{ext}"
        cv2.imwrite(str(f), img)
        frames.append(str(f))
    vis = np.ones(len(boxes), bool) if visible is None else visible
    return Sequence(name, frames, np.array(boxes, float), vis)


def test_sample_shapes_and_dtypes(synth):
    ds = PairDataset([synth], pairs_per_epoch=7, **SMALL)
    assert len(ds) == 7
    x = ds[0]
    assert set(x) == {"template", "search", "template_box", "search_box", "positive"}
    assert x["template"].shape == (3, 31, 31) and x["search"].shape == (3, 63, 63)
    assert x["template"].dtype == x["search"].dtype == torch.float32
    assert x["template_box"].shape == x["search_box"].shape == (4,) and x["search_box"].dtype == torch.float32
    assert x["positive"].dtype == torch.bool and x["positive"].shape == ()
    assert 0 <= float(x["search"].min()) and float(x["search"].max()) <= 255
    batch = torch.utils.data.default_collate([ds[i] for i in range(3)])
    assert batch["search"].shape == (3, 3, 63, 63) and batch["positive"].shape == (3,)


def test_deterministic_per_seed_epoch_index(synth):
    a = PairDataset([synth], pairs_per_epoch=20, seed=3, flip=0.5, blur=0.5, grayscale=0.5, **SMALL)
    b = PairDataset([synth], pairs_per_epoch=20, seed=3, flip=0.5, blur=0.5, grayscale=0.5, **SMALL)
    xa, xb = a[5], b[5]
    for k in xa:
        assert torch.equal(xa[k], xb[k]), k
    specs0 = [a.pair_indices(i) for i in range(20)]
    a.set_epoch(1)
    specs1 = [a.pair_indices(i) for i in range(20)]
    assert sum(s0 != s1 for s0, s1 in zip(specs0, specs1)) > 10
    b.set_epoch(1)
    assert torch.equal(a[5]["search"], b[5]["search"])


def test_negative_ratio_and_positive_pairs(synth):
    ds = PairDataset([synth], pairs_per_epoch=2000, negative_ratio=0.3, max_gap=3)
    specs = [ds.pair_indices(i) for i in range(2000)]
    neg = [s for s in specs if not s.positive]
    assert 0.25 < len(neg) / len(specs) < 0.35
    assert all(s.template[:2] != s.search[:2] for s in neg)
    for s in specs:
        for d, q, f in (s.template, s.search):
            assert synth[q].visible[f]
        if s.positive:
            assert s.template[:2] == s.search[:2] and 0 < abs(s.template[2] - s.search[2]) <= 3


def test_positive_boxes_inside_search_crop(synth):
    ds = PairDataset([synth], pairs_per_epoch=40, negative_ratio=0.0, scale=0.25, flip=0.5, **SMALL)
    for i in range(len(ds)):
        x = ds[i]
        for key, size in (("search_box", 63), ("template_box", 31)):
            x1, y1, w, h = x[key].tolist()
            assert w > 0 and h > 0
            assert -1e-3 <= x1 and -1e-3 <= y1 and x1 + w <= size + 1e-3 and y1 + h <= size + 1e-3, (i, key, x[key])


def _bright_box(chw, bg=40):
    """``[x, y, w, h]`` of the white rectangle in a crop (coverage-profile extent and centroid)."""
    m = np.clip((chw[0].numpy() - bg) / (255.0 - bg), 0, 1)
    out = []
    for prof in (m.max(axis=0), m.max(axis=1)):
        prof = np.where(prof > 0.1, prof, 0)
        c = ((np.arange(len(prof)) + 0.5) * prof).sum() / prof.sum()
        out.append((c, prof.sum()))
    (cx, w), (cy, h) = out
    return np.array([cx - w / 2, cy - h / 2, w, h])


@pytest.mark.parametrize("factors", [None, (2.0, 4.0)])
def test_boxes_land_on_target_pixels(tmp_path, factors):
    boxes = [[20, 15, 18, 12], [26, 18, 16, 14], [30, 22, 15, 15], [33, 20, 14, 16]]
    seq = _rect_sequence(tmp_path, "rect", boxes)
    kw = dict(color_jitter=0.0, grayscale=0.0, flip=0.5, negative_ratio=0.0, template_size=47, search_size=95,
              shift=20.0, scale=0.2, template_shift=3.0)
    if factors:
        kw.update(template_factor=factors[0], search_factor=factors[1])
    ds = PairDataset([ListDataset(tmp_path, [seq])], pairs_per_epoch=12, **kw)
    for i in range(len(ds)):
        x = ds[i]
        np.testing.assert_allclose(_bright_box(x["template"]), x["template_box"].numpy(), atol=0.35)
        np.testing.assert_allclose(_bright_box(x["search"]), x["search_box"].numpy(), atol=0.35)
    if factors:  # OSTrack-style: crop side sqrt(w h) * factor, no scale jitter on the template here
        ds = PairDataset([ListDataset(tmp_path, [seq])], pairs_per_epoch=4, **{**kw, "template_scale": 0.0})
        x = ds[0]
        t = ds.pair_indices(0).template[2]
        w, h = boxes[t][2], boxes[t][3]
        assert x["template_box"][2].item() == pytest.approx(w * 47 / (np.sqrt(w * h) * 2.0), rel=1e-4)


def test_off_target_crops_are_hard_negatives_or_far_shifted_positives(tmp_path):
    """``off_target``: the search crop is centred anywhere in the frame; the pair is positive exactly when the
    target's centre lies in the crop, and the search box still lands on the target's pixels."""
    boxes = [[20, 15, 18, 12], [26, 18, 16, 14], [30, 22, 15, 15], [33, 20, 14, 16]]
    seq = _rect_sequence(tmp_path, "rect", boxes)
    kw = dict(color_jitter=0.0, grayscale=0.0, negative_ratio=0.0, template_size=31, search_size=63, shift=8.0)
    ds = PairDataset([ListDataset(tmp_path, [seq])], pairs_per_epoch=60, off_target=1.0, **kw)
    flags = []
    for i in range(len(ds)):
        x = ds[i]
        x1, y1, w, h = x["search_box"].tolist()
        inside = 0 <= x1 + w / 2 < 63 and 0 <= y1 + h / 2 < 63
        assert bool(x["positive"]) == inside, i
        if x1 >= 0 and y1 >= 0 and x1 + w <= 63 and y1 + h <= 63:  # the whole target in view
            np.testing.assert_allclose(_bright_box(x["search"]), x["search_box"].numpy(), atol=0.35)
        flags.append(inside)
    assert 0 < sum(flags) < len(flags)  # both kinds occur
    plain = PairDataset([ListDataset(tmp_path, [seq])], pairs_per_epoch=60, **kw)
    assert all(bool(plain[i]["positive"]) for i in range(20))
    with pytest.raises(ValueError, match="off_target"):
        PairDataset([ListDataset(tmp_path, [seq])], off_target=1.5, **kw)


def test_recolored_targets_are_negatives_with_the_rest_of_the_crop_unchanged(tmp_path):
    """``recolor_negative``: the pair turns negative, the target's centre takes other colours, and the
    crop outside the box (and the template) is exactly what the plain pair shows."""
    boxes = [[20, 15, 18, 12], [26, 18, 16, 14], [30, 22, 15, 15], [33, 20, 14, 16]]
    seq = _rect_sequence(tmp_path, "rect", boxes)
    kw = dict(color_jitter=0.0, grayscale=0.0, negative_ratio=0.0, template_size=31, search_size=63, shift=8.0)
    plain = PairDataset([ListDataset(tmp_path, [seq])], pairs_per_epoch=12, **kw)
    recol = PairDataset([ListDataset(tmp_path, [seq])], pairs_per_epoch=12, recolor_negative=1.0, **kw)
    changed = 0
    for i in range(len(plain)):
        a, b = plain[i], recol[i]
        assert bool(a["positive"]) and not bool(b["positive"])
        assert torch.equal(a["template"], b["template"]) and torch.equal(a["search_box"], b["search_box"])
        x, y, w, h = b["search_box"].tolist()
        outside = np.ones((63, 63), bool)
        outside[max(0, int(y) - 2):int(np.ceil(y + h)) + 2, max(0, int(x) - 2):int(np.ceil(x + w)) + 2] = False
        assert torch.equal(a["search"][:, outside], b["search"][:, outside])
        cy, cx = int(y + h / 2), int(x + w / 2)
        changed += int(not torch.equal(a["search"][:, cy, cx], b["search"][:, cy, cx]))
    assert changed >= len(plain) - 1  # a random colour change can leave white white only by chance
    with pytest.raises(ValueError, match="recolor_negative"):
        PairDataset([ListDataset(tmp_path, [seq])], recolor_negative=-0.1, **kw)


def test_unusable_sequences_skipped(tmp_path):
    good = _rect_sequence(tmp_path, "good", [[10, 10, 8, 8]] * 3)
    one = _rect_sequence(tmp_path, "one", [[10, 10, 8, 8]] * 3, visible=np.array([True, False, False]))
    ds = PairDataset([ListDataset(tmp_path, [one, good])], pairs_per_epoch=50, negative_ratio=0.5)
    assert all(s.template[1] == 1 and s.search[1] == 1 and s.positive
               for s in (ds.pair_indices(i) for i in range(50)))  # one usable sequence: no negatives
    with pytest.raises(ValueError, match="2 or more visible frames"):
        PairDataset([ListDataset(tmp_path, [one])])


def test_still_images_pair_with_themselves(tmp_path):
    stills = [_rect_sequence(tmp_path, f"still{i}", [[10 + i, 12, 8, 9]]) for i in range(2)]
    ds = PairDataset([ListDataset(tmp_path, stills)], pairs_per_epoch=20, negative_ratio=0.0, **SMALL)
    for i in range(3):
        s = ds.pair_indices(i)
        assert s.positive and s.template == s.search
        assert ds[i]["search_box"][2] > 0


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_jpeg_names_path(tmp_path, damage):
    seq = _rect_sequence(tmp_path, "j", [[10, 10, 8, 8], [12, 10, 8, 8]], ext=".jpg")
    bad = seq.frames[1]
    data = open(bad, "rb").read()
    with open(bad, "wb") as f:
        f.write(b"not a jpeg at all" if damage == "garbage" else data[: len(data) // 2])
    ds = PairDataset([ListDataset(tmp_path, [seq])], pairs_per_epoch=4, **SMALL)
    with pytest.raises(DatasetFormatError, match=bad):
        for i in range(4):
            ds[i]


def test_cached_frames_give_the_same_samples_and_no_file_reads(synth, monkeypatch):
    """``cache_frames``: every usable frame decoded once at construction, the samples bit-identical to decoding per
    pair, and no image read afterwards (the frames are read-only, so a crop can never change the cache)."""
    kw = dict(pairs_per_epoch=24, seed=5, flip=0.5, blur=0.3, grayscale=0.3, negative_ratio=0.3, **SMALL)
    plain = PairDataset([synth], **kw)
    cached = PairDataset([synth], cache_frames=True, **kw)
    usable = sum(len(vf) for _, vf in cached._usable[0])
    assert len(cached._frames) == usable and all(not im.flags.writeable for im in cached._frames.values())

    expected = []
    for epoch in (0, 1):
        plain.set_epoch(epoch)
        expected.append([plain[i] for i in range(len(plain))])

    import sot.data.pair_dataset as module

    def no_reads(path):
        raise AssertionError(f"read {path} although the frames are cached")

    monkeypatch.setattr(module, "read_rgb", no_reads)
    for epoch in (0, 1):
        cached.set_epoch(epoch)
        for i, x in enumerate(expected[epoch]):
            y = cached[i]
            for k in x:
                assert torch.equal(x[k], y[k]), (epoch, i, k)
    assert any(not x["positive"] for x in expected[0]) and any(x["positive"] for x in expected[0])


def test_cache_frames_names_an_unreadable_frame_at_construction(tmp_path):
    seq = _rect_sequence(tmp_path, "c", [[10, 10, 8, 8], [12, 10, 8, 8], [14, 10, 8, 8]], ext=".jpg")
    open(seq.frames[2], "wb").write(b"not a jpeg at all")
    with pytest.raises(DatasetFormatError, match=seq.frames[2]):
        PairDataset([ListDataset(tmp_path, [seq])], pairs_per_epoch=4, cache_frames=True, **SMALL)
