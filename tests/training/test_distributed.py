"""DDP: the distributed pair sampler, seeded workers, and 2 CPU processes with gloo under torchrun."""
import json
import os
import subprocess
import sys

import pytest
import torch

from sot.training.data import DistributedPairSampler, EpochLoaders
from sot.training.run import train
from sot.utils.runtime import REPO_ROOT
from tests.training.hooks import sample_digest


def test_sampler_splits_an_epoch_between_ranks():
    one = list(DistributedPairSampler(20, 0, 1))
    ranks = [list(DistributedPairSampler(20, r, 3)) for r in range(3)]
    assert all(len(r) == 6 for r in ranks)  # 20 // 3 each; the last 2 indices are dropped
    assert sorted(sum(ranks, [])) == one[:18]
    assert ranks[1][:3] == [1, 4, 7]
    assert list(DistributedPairSampler(20, 1, 3, start=4)) == ranks[1][4:]  # resume 4 samples in
    s = DistributedPairSampler(20, 0, 2, shuffle=True, seed=3)
    s.set_epoch(1)
    a = list(s)
    s.set_epoch(2)
    assert a != list(s)
    s.set_epoch(1)
    assert a == list(s)  # deterministic per (seed, epoch, rank)


def test_workers_give_the_same_batches_as_the_main_process(smoke):
    from hydra.utils import instantiate

    from sot.training.run import prepare_data

    cfg = smoke("data.train.pairs_per_epoch=8")
    prepare_data(cfg)
    ds = instantiate(cfg.data.train)
    main = [sample_digest(b) for b in EpochLoaders(ds, 2, workers=0, seed=0)(epoch=1)]
    workers = EpochLoaders(ds, 2, workers=2, seed=0)
    assert [sample_digest(b) for b in workers(epoch=1)] == main
    assert [sample_digest(b) for b in workers(epoch=1, start_batch=2)] == main[2:]
    assert [sample_digest(b) for b in workers(epoch=2)] != main  # a new epoch draws new pairs
    assert len(set(workers.worker_seeds(1))) == 2 and workers.worker_seeds(1) != workers.worker_seeds(2)


# BatchNorm in eval mode and no random anchor subsampling: the loss of a batch is then the mean of its
# samples' losses, so the 2-rank run and the 1-process run at the same global batch must agree to rounding.
# 2 epochs with the backbone frozen in the first (DDP is rebuilt when it unfreezes), gradient accumulation
# over 2 batches (no_sync) and an EMA: 16 pairs = 4 optimizer steps of 4 pairs per epoch. The ban head, whose loss
# is a fixed function of the batch (ban_iou, the main recipe's, draws random proposals for its IoU branch).
COMMON = ["head=ban", "backbone=resnet18_layer2", "data.train.pairs_per_epoch=16", "optim=sgd",
          "head.num_samples=100000", "epochs=2",
          "accum_steps=2",
          "freeze=[{prefixes:[backbone.],until_epoch:1}]", "ema.enabled=true"]


@pytest.mark.slow
def test_torchrun_two_gloo_ranks(smoke, cache, tmp_path):
    rec = tmp_path / "rec"
    env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           str(REPO_ROOT / "train.py"), "debug=smoke", "device=cpu", f"paths.cache={cache}",
           "score_after_training=false", *COMMON, "batch_size=1",
           f"hooks=[{{_target_:tests.training.hooks.BatchNormEval}},"
           f"{{_target_:tests.training.hooks.RecordSamples,out:'{rec}'}}]"]
    r = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]

    # both ranks resolved the config themselves and still share one run directory, written by rank 0
    runs = [p.parent for p in (tmp_path / "outputs" / "train").glob("*/*/.hydra")]
    assert len(runs) == 1, list((tmp_path / "outputs").rglob("*"))
    run = runs[0]
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "final_metrics.json").is_file()
    assert json.loads((run / "final_metrics.json").read_text())["steps"] == 8

    # the ranks saw different samples, which together are the one-process batches
    seen = [json.loads((rec / f"rank{i}.json").read_text()) for i in range(2)]
    assert not set(sum(seen[0], [])) & set(sum(seen[1], []))
    solo = tmp_path / "solo"
    train(smoke(*COMMON, "batch_size=2", f"hooks=[{{_target_:tests.training.hooks.BatchNormEval}},"
                f"{{_target_:tests.training.hooks.RecordSamples,out:'{solo}'}}]"), tmp_path / "solo_run")
    one = json.loads((solo / "rank0.json").read_text())
    assert [sorted(a + b) for a, b in zip(*seen)] == [sorted(x) for x in one]
    assert len(one) == 16

    # identical weights on both ranks; the same as one process with the global batch, to rounding
    w = [torch.load(rec / f"rank{i}.pt") for i in range(2)]
    assert all(torch.equal(w[0]["final"][k], w[1]["final"][k]) for k in w[0]["final"])
    w1 = torch.load(solo / "rank0.pt")
    keys = [k for k in w1["final"] if w1["final"][k].is_floating_point()]
    assert all(torch.equal(w[0]["init"][k], w1["init"][k]) for k in keys)
    ddp_update = torch.cat([(w[0]["final"][k] - w[0]["init"][k]).flatten() for k in keys])
    solo_update = torch.cat([(w1["final"][k] - w1["init"][k]).flatten() for k in keys])
    rel = ((ddp_update - solo_update).norm() / solo_update.norm()).item()
    print(f"DDP (2 ranks x 1 x 2 accumulated) vs one process (2 x 2 accumulated): relative difference of the weight updates {rel:.2e}, "
          f"max |w_ddp - w_solo| {(ddp_update - solo_update).abs().max().item():.2e}")
    assert rel < 1e-4, rel


def test_slurm_tasks_map_onto_torchrun_variables(monkeypatch):
    from sot.training import distributed as D

    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.setenv(k, "")  # so that monkeypatch removes what dist_env() sets
        monkeypatch.delenv(k)
    monkeypatch.setenv("PATH", "/nonexistent")  # no scontrol here: the node list is parsed
    monkeypatch.setenv("SLURM_PROCID", "5")
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("SLURM_JOB_NODELIST", "gpu[03-05,07]")
    monkeypatch.setenv("SLURM_JOB_ID", "123456")
    env = D.dist_env()
    assert (env.rank, env.world_size, env.local_rank) == (5, 8, 1) and not env.is_main
    assert os.environ["MASTER_ADDR"] == "gpu03" and os.environ["MASTER_PORT"] == str(20000 + 123456 % 20000)
    assert D.first_host("node7,node8") == "node7"
