"""Generative model families (one file each) and the domain classifier."""
