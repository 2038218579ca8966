"""Data order as a pure function of (seed, step): a resumed run sees exactly the same batches.

The stream of indices is one seeded permutation per epoch, laid end to end; step
``s`` takes positions ``[s*B, (s+1)*B)`` of that stream, wrapping into the next
epoch's permutation. Nothing depends on how many steps ran in this process, so
there is no sampler state to save beyond (seed, batch size, dataset size).
"""

from __future__ import annotations

import numpy as np
import torch


def _epoch_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch, 0x0D474]).generate_state(1)[0]))
    return torch.randperm(n, generator=generator)


class BatchOrder:
    """``indices(step)`` -> the global batch of step ``step``; caches the permutations it last used."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        if n <= 0:
            raise ValueError("cannot train on an empty dataset")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self._cache: dict[int, torch.Tensor] = {}

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch not in self._cache:
            if len(self._cache) > 4:
                self._cache.clear()
            self._cache[epoch] = _epoch_permutation(self.n, self.seed, epoch)
        return self._cache[epoch]

    def indices(self, step: int) -> torch.Tensor:
        start = step * self.batch_size
        positions = torch.arange(start, start + self.batch_size)
        epochs, offsets = positions // self.n, positions % self.n
        out = torch.empty(self.batch_size, dtype=torch.long)
        for epoch in torch.unique(epochs).tolist():
            mask = epochs == epoch
            out[mask] = self._permutation(epoch)[offsets[mask]]
        return out


def step_seed(seed: int, step: int, rank: int) -> int:
    """The torch seed of one step on one process: the model's noise is a pure function of (seed, step, rank)."""
    return int(np.random.SeedSequence([seed, step, rank]).generate_state(2, dtype=np.uint64)[0] >> 1)
