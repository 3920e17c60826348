"""Precision and speed switches on CPU: they work, or they say that they need a GPU."""
import platform
import sys

import pytest
import torch

from hydra.utils import instantiate
from omegaconf import OmegaConf

from sot.evaluation.results_io import format_boxes
from sot.evaluation.runner import track_sequence
from sot.trackers.build import tracker_from_checkpoint
from sot.training import distributed as D
from sot.training.checkpoint import load_checkpoint
from sot.training.run import check_switches, train

BN_EVAL = "hooks=[{_target_:tests.training.hooks.BatchNormEval}]"


def test_fp16_and_sync_bn_on_cpu_say_they_need_cuda(smoke, tmp_path):
    with pytest.raises(ValueError, match="amp=fp16 needs a CUDA device"):
        train(smoke("amp=fp16"), tmp_path / "a")
    with pytest.raises(ValueError, match="sync_bn=true needs CUDA"):
        check_switches(smoke("sync_bn=true"), torch.device("cpu"), D.DistEnv(rank=0, world_size=2))
    with pytest.raises(ValueError, match="amp must be off, bf16, fp16 or auto"):
        check_switches(smoke("amp=fp8"), torch.device("cpu"), D.DistEnv())
    assert check_switches(smoke("amp=off"), torch.device("cpu"), D.DistEnv()) == "off"
    assert check_switches(smoke(), torch.device("cpu"), D.DistEnv()) == "off"  # the yaml's "off"


def test_amp_auto_follows_the_cpu(smoke, monkeypatch):
    cpu = torch.device("cpu")
    for avx512_bf16, amx, expect in ((True, False, "bf16"), (False, True, "bf16"), (False, False, "off")):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert check_switches(smoke("amp=auto"), cpu, D.DistEnv()) == expect


def test_bf16_channels_last_and_accumulation_train_on_cpu(smoke, tmp_path):
    m = train(smoke("amp=bf16", "channels_last=true", "accum_steps=2", "data.train.pairs_per_epoch=16",
                    "batch_size=2", "score_after_training=true"), tmp_path / "run")
    assert m["steps"] == 4  # 8 batches / 2 per optimizer step
    path = tmp_path / "run" / "checkpoints" / "last.pt"
    ckpt = load_checkpoint(path)
    assert all(torch.isfinite(v).all() for v in ckpt["model"].values() if v.is_floating_point())
    # rebuilt for eval.py in the layout it was trained and scored in, so that eval.py repeats train.py's score
    tracker = tracker_from_checkpoint(path)
    convs = [c.weight for c in tracker.model.modules() if isinstance(c, torch.nn.Conv2d) and c.weight.shape[-1] > 1]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
    # and tracking the test split again from the checkpoint alone writes the same raw results
    written = {p.stem: p for p in (tmp_path / "run" / "eval" / "results" / "sot").glob("*.txt")}
    test_ds = instantiate(OmegaConf.create(ckpt["config"]).data.test)
    assert written and len(written) == len(test_ds)
    for seq in test_ds:
        boxes, _ = track_sequence(tracker, seq)
        assert written[seq.name].read_text() == format_boxes(boxes)


def test_accumulating_two_batches_equals_one_batch_of_twice_the_size(smoke, tmp_path):
    # the ban head: its loss is a fixed function of the batch (ban_iou draws random proposals for its IoU branch)
    common = ["head=ban", "backbone=resnet18_layer2", "data.train.pairs_per_epoch=16", "optim=sgd",
              "head.num_samples=100000", BN_EVAL]
    train(smoke(*common, "batch_size=2", "accum_steps=2"), tmp_path / "accum")
    train(smoke(*common, "batch_size=4"), tmp_path / "big")
    a = load_checkpoint(tmp_path / "accum" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "big" / "checkpoints" / "last.pt")
    assert a["step"] == b["step"] == 4
    diff = max((a["model"][k] - b["model"][k]).abs().max().item() for k in a["model"]
               if a["model"][k].is_floating_point())
    assert diff < 1e-6, diff


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_keep_freed_memory_sets_glibc_thresholds():
    from sot.utils.runtime import keep_freed_memory

    assert keep_freed_memory() is True  # both mallopt calls accepted
