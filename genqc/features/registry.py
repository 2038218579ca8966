"""Feature extractors behind one registry of lowercase names.

The registry itself imports nothing heavy: each built-in extractor lives in its
own module, imported (with torch) only when its name is first asked for, so
``genqc --help`` and ``import genqc.features`` stay fast. A module registers its
class with ``@register_extractor("name")``; registration checks that the name is
well formed and unused and that the class is a ``FeatureExtractor``.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from genqc.features.base import FeatureExtractor

# Built-in names and the module that registers each; imported on first use.
BUILTIN = {
    "classifier": "genqc.features.classifier",
    "effnet_lite0": "genqc.features.effnet",
    "inception": "genqc.features.inception",
}
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_REGISTRY: dict[str, type[FeatureExtractor]] = {}


def available() -> list[str]:
    """Every extractor name that ``build_extractor`` accepts, sorted."""
    return sorted(set(BUILTIN) | set(_REGISTRY))


def register_extractor(name: str) -> Callable[[type[FeatureExtractor]], type[FeatureExtractor]]:
    """Class decorator: register a ``FeatureExtractor`` subclass under ``name`` (lowercase, unique)."""
    from genqc.features.base import FeatureExtractor  # deferred: torch; this registry stays cheap (see above)

    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"extractor name {name!r} must be lowercase letters, digits, '_' or '-', starting with a letter"
        )

    def decorate(cls: type[FeatureExtractor]) -> type[FeatureExtractor]:
        if not (isinstance(cls, type) and issubclass(cls, FeatureExtractor)):
            raise TypeError(f"extractor {name!r} must be a FeatureExtractor subclass, got {cls!r}")
        if name in BUILTIN and cls.__module__ != BUILTIN[name]:
            raise ValueError(f"extractor name {name!r} is taken by the built-in in {BUILTIN[name]}")
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"extractor name {name!r} is already registered to {_REGISTRY[name].__qualname__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def extractor_class(name: str) -> type[FeatureExtractor]:
    """The class registered as ``name``; an unknown name lists the valid ones."""
    if not isinstance(name, str) or name not in available():
        raise ValueError(f"unknown feature extractor {name!r}; valid: {', '.join(available())}")
    if name not in _REGISTRY:
        importlib.import_module(BUILTIN[name])
    return _REGISTRY[name]


def build_extractor(name: str, **options: Any) -> FeatureExtractor:
    """Build the extractor ``name`` with its options (weights paths; see each extractor's module)."""
    return extractor_class(name)(**options)
