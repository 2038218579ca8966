"""Training engine shared by every model family: the loop, checkpoints, EMA, DDP and logging.

The engine only sees the GenerativeModel contract (genqc/models/base.py), so one
loop trains a GAN, a VAE or a diffusion model. Modules import torch; import them
directly (``from genqc.training.loop import train``) so ``import genqc.training``
stays cheap.
"""
