"""genqc: a reproducible, quality-gated pipeline for image generative models.

The package is the library: it knows nothing of params.yaml or repository paths.
Importing it is cheap; heavy dependencies (torch, great_expectations, prefect) are
imported inside the functions that need them so the CLI starts fast.
"""

__version__ = "0.1.0"
