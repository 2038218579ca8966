"""Standing BatchNorm statistics for an averaged (EMA) generator.

Why: the EMA averages a generator's weights, but BatchNorm's running mean and
variance are buffers, copied from the live network (``AveragedModel`` copies
buffers), and describe the live network's activations. Under the averaged weights
the activations differ, so eval-mode BatchNorm normalises them with statistics of
another network. Recomputing them from draws of the averaged network itself (the
"standing statistics" of BigGAN, Brock et al. 2019) removes the mismatch. On
mnist5k a class-conditional DCGAN's EMA samples went from FD ratio 9.4 to 5.3 and
recall 0.68 to 0.76 (docs/levers.md); families without BatchNorm are unchanged.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def batchnorm_layers(module: nn.Module) -> list[_BatchNorm]:
    """The BatchNorm layers of ``module`` that keep running statistics."""
    return [m for m in module.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]


@torch.no_grad()
def standing_statistics(
    module: nn.Module, forward: Callable[[nn.Module, int, torch.Generator], object], *, draws: int, batch_size: int
) -> nn.Module:
    """A copy of ``module`` whose BatchNorm statistics are the mean over ``draws`` of its own activations.

    ``forward(net, n, generator)`` runs ``net`` on ``n`` seeded draws; it is called in
    train mode, where BatchNorm accumulates a cumulative average (momentum None).
    ``module`` is returned unchanged when it has no BatchNorm or ``draws`` is 0, and is
    never modified: the EMA state a resume needs stays as training left it. The draws
    come from a fixed-seed generator, so the result is a pure function of the weights.
    """
    if draws <= 0 or not batchnorm_layers(module):
        return module
    net = copy.deepcopy(module)
    layers = batchnorm_layers(net)
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative moving average: every draw weighs the same
    net.train()
    generator = torch.Generator().manual_seed(0)
    for start in range(0, draws, batch_size):
        forward(net, min(batch_size, draws - start), generator)
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum
    net.eval()
    return net
