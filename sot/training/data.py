"""Per-epoch loaders over a pair dataset: the rank's share of the indices, a start position, seeded workers.

:class:`sot.data.pair_dataset.PairDataset` draws sample ``i`` of epoch ``e`` from an RNG seeded by
``(seed, e, i)``. Rank ``r`` of ``W`` takes indices ``r, r + W, r + 2W, ...``, so with a per-rank batch ``B``
the ranks' ``k``-th batches together are exactly the ``k``-th batch ``[kBW, (k+1)BW)`` of one process
with batch ``B * W``. A loader can start ``k`` batches into an epoch, which is what an exact mid-epoch
resume needs.
"""
from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler


def derived_seed(*keys: int) -> int:
    """A 63-bit seed from integer keys (numpy's SeedSequence mixing)."""
    return int(np.random.SeedSequence([int(k) for k in keys]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class DistributedPairSampler(Sampler[int]):
    """Indices of one rank for one epoch, deterministic per seed, rank and epoch.

    Args:
        size: number of samples in an epoch (all ranks together); the last ``size % world_size`` are dropped
            so that every rank gets the same number.
        rank, world_size: this process's share: indices ``rank, rank + world_size, ...``.
        shuffle: permute the indices first (one permutation per ``(seed, epoch)``, the same on every rank).
            PairDataset samples are already random per index, so it is off by default.
        seed: seeds the permutation.
        start: skip the first ``start`` indices of this rank (a resume inside an epoch).
    """

    def __init__(self, size: int, rank: int = 0, world_size: int = 1, shuffle: bool = False, seed: int = 0,
                 start: int = 0):
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in 0..{world_size - 1}")
        self.size, self.rank, self.world_size = int(size), int(rank), int(world_size)
        self.shuffle, self.seed, self.start = shuffle, int(seed), int(start)
        self.per_rank = self.size // self.world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def indices(self) -> list[int]:
        order = np.arange(self.size)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.size)
        mine = order[self.rank: self.per_rank * self.world_size: self.world_size]
        return [int(i) for i in mine[self.start:]]

    def __iter__(self):
        return iter(self.indices())

    def __len__(self) -> int:
        return max(0, self.per_rank - self.start)


class WorkerInit:
    """``worker_init_fn`` seeding python, numpy and torch in a worker from ``(seed, epoch, rank, worker)``."""

    def __init__(self, seed: int, epoch: int, rank: int):
        self.seed, self.epoch, self.rank = seed, epoch, rank

    def __call__(self, worker_id: int) -> None:
        s = derived_seed(self.seed, self.epoch, self.rank, worker_id)
        random.seed(s)
        np.random.seed(s % 2**32)
        torch.manual_seed(s)


class EpochLoaders:
    """``loaders(epoch, start_batch)`` -> a DataLoader over this rank's batches of ``epoch`` from ``start_batch``.

    A new DataLoader per epoch: the dataset's epoch reaches fresh workers (persistent workers would keep a
    stale copy), and its generator is seeded from ``(seed, epoch, rank)`` so that creating it never draws
    from the global torch RNG.

    Args:
        dataset: a map-style dataset; ``set_epoch(epoch)`` is called when it has one.
        batch_size: per-rank batch.
        workers: DataLoader worker processes.
        seed, rank, world_size: see :class:`DistributedPairSampler`.
        shuffle: see :class:`DistributedPairSampler`.
        pin_memory: pin host memory (CUDA).
    """

    def __init__(self, dataset: Dataset, batch_size: int, workers: int = 0, seed: int = 0, rank: int = 0,
                 world_size: int = 1, shuffle: bool = False, pin_memory: bool = False):
        self.dataset, self.batch_size, self.workers = dataset, int(batch_size), int(workers)
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self.shuffle, self.pin_memory = shuffle, pin_memory
        self.batches_per_epoch = (len(dataset) // self.world_size) // self.batch_size
        if self.batches_per_epoch == 0:
            raise ValueError(f"an epoch of {len(dataset)} samples makes no batch of {self.batch_size} per rank on "
                             f"{self.world_size} rank(s); raise data.train.pairs_per_epoch or lower batch_size")
        if self.workers > 0:
            # Workers are forked. A child that inherits a started OpenCV thread pool (e.g. from generating the
            # synthetic data in this process) hangs at its first parallel OpenCV call, or at setNumThreads.
            # With one thread in the parent before forking, OpenCV never uses the pool in a child.
            import cv2

            cv2.setNumThreads(1)

    def worker_seeds(self, epoch: int) -> list[int]:
        return [derived_seed(self.seed, epoch, self.rank, w) for w in range(self.workers)]

    def __call__(self, epoch: int, start_batch: int = 0) -> DataLoader:
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        sampler = DistributedPairSampler(len(self.dataset), self.rank, self.world_size, self.shuffle, self.seed,
                                         start=start_batch * self.batch_size)
        sampler.set_epoch(epoch)
        return DataLoader(
            self.dataset, batch_size=self.batch_size, sampler=sampler, num_workers=self.workers, drop_last=True,
            worker_init_fn=WorkerInit(self.seed, epoch, self.rank) if self.workers > 0 else None,
            generator=torch.Generator().manual_seed(derived_seed(self.seed, epoch, self.rank)),
            pin_memory=self.pin_memory, persistent_workers=False,
        )
