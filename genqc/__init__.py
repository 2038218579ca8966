"""genqc: a reproducible, quality-gated pipeline for image generative models.

The package is the library: it knows nothing of params.yaml or repository paths.
Importing it is cheap; heavy dependencies (torch, great_expectations, prefect) are
imported inside the functions that need them so the CLI starts fast.
"""

__version__ = "0.1.0"

__all__ = ["validate"]


def __getattr__(name: str):  # PEP 562: `genqc.validate` without importing pandas/GX at `import genqc`
    if name == "validate":
        from genqc.quality.validation import validate

        return validate
    raise AttributeError(f"module 'genqc' has no attribute {name!r}")
