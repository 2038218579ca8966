"""Feature extractors behind one registry: ``classifier``, ``effnet_lite0``, ``inception``.

Importing this package is cheap; torch and each network load only when an
extractor is built. See ``genqc.features.base`` for the contract and each
module for its fixed preprocessing.
"""

from genqc.features.registry import available, build_extractor, extractor_class, register_extractor

__all__ = ["available", "build_extractor", "extractor_class", "register_extractor"]
