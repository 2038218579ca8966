"""The real reference features evaluation reads, computed once per data version into a feature store.

Evaluation compares every family's samples with the same real images: the capped,
seeded test subset (the reference of every distance) and the capped, seeded train
subset (copies, class balance, and the size-matched floor, whose rows are a subset of
it). Their features depend on the data, the extractors and the seeds and caps, never
on a generator, so the pipeline extracts them once, into a content-keyed store
(:class:`~genqc.features.cache.FeatureCache`), and every evaluation afterwards finds
them there, verified, instead of re-extracting them per family and per run.

This module decides *which* sets and layers: the same functions pick them here and
in :func:`genqc.evaluation.evaluate`, so the store holds exactly the entries
evaluation looks up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from genqc.data.split import subset_indices
from genqc.evaluation.errors import EvaluationSettingsError
from genqc.evaluation.inputs import EvalSet
from genqc.features.cache import FeatureCache, extract_cached

if TYPE_CHECKING:
    from genqc.features.base import FeatureExtractor


# The capped test reference is drawn with seed + TEST_SEED_OFFSET, the capped train subset with the seed itself
# (and the floor, from that subset, with seed + FLOOR_SEED_OFFSET: genqc.evaluation.policy).
TEST_SEED_OFFSET = 2
FLOOR_SEED_OFFSET = 1


def capped_test_set(test: EvalSet, *, max_test: int, seed: int) -> EvalSet:
    """The real reference set: the test split, or a seeded subset of ``max_test`` of its images.

    Every distance, interval and floor is measured against it, so evaluation (feature
    extraction, bootstrap resamples, k-NN radii) costs what ``max_test`` and the sample count
    say, not what the dataset's test split holds. A split within the cap is used whole, in
    its own order, so its numbers do not change.
    """
    if max_test < 2:
        raise EvaluationSettingsError(f"max_test={max_test}: the reference set needs at least 2 test images")
    return test if len(test) <= max_test else test.subset(subset_indices(len(test), max_test, seed + TEST_SEED_OFFSET))


def capped_train_set(train: EvalSet, *, max_train: int, seed: int) -> EvalSet:
    """The seeded subset of ``max_train`` train images that copies, class balance and the floor are drawn from."""
    return train.subset(subset_indices(len(train), max_train, seed))


def floor_set(subset: EvalSet, n_samples: int, *, seed: int) -> EvalSet:
    """The size-matched floor: ``n_samples`` images of the capped train subset (all of it when smaller)."""
    return subset.subset(subset_indices(len(subset), n_samples, seed + FLOOR_SEED_OFFSET))


def feature_layers(net: FeatureExtractor, *, scorer: bool) -> list[str]:
    """The layers evaluation reads from ``net``: its distance layer, plus the logits when it scores (IS, classes)."""
    return sorted({net.layer_for("fd"), *(["logits"] if scorer else [])})


def real_reference_sets(
    test: EvalSet, train: EvalSet | None, *, max_test: int, max_train: int, seed: int, n_samples: int | None = None
) -> dict[str, EvalSet]:
    """The real sets whose features evaluation needs: ``test`` (capped) and, given a train split, ``train``
    (capped) and, given the sample count, ``floor`` (its size-matched subset)."""
    sets = {"test": capped_test_set(test, max_test=max_test, seed=seed)}
    if train is not None:
        sets["train"] = capped_train_set(train, max_train=max_train, seed=seed)
        if n_samples is not None:
            sets["floor"] = floor_set(sets["train"], n_samples, seed=seed)
    return sets


@dataclass(frozen=True)
class StoredFeatures:
    """One matrix of the store: which set, space and layer, its shape, and whether this run extracted it."""

    set_name: str
    extractor: str
    layer: str
    rows: int
    dim: int
    extracted: bool  # False: a verified entry was already there


def store_reference_features(
    test: EvalSet,
    train: EvalSet | None,
    store: FeatureCache,
    *,
    extractors: Sequence[FeatureExtractor] = (),
    classifier: FeatureExtractor | None = None,
    max_test: int = 2000,
    max_train: int = 10000,
    seed: int = 0,
    n_samples: int | None = None,
    batch_size: int = 64,
    device: Any = "cpu",
) -> list[StoredFeatures]:
    """Extract every real reference matrix ``evaluate`` will look up with the same arguments into ``store``.

    ``extractors`` are the distance spaces and ``classifier`` the scorer, as passed to
    :func:`genqc.evaluation.evaluate`; the sets are the capped test subset and (given
    ``train``) the capped train subset. The scorer reads the whole train subset (copies,
    class balance); a distance-only space reads only the floor's rows of it, so with
    ``n_samples`` (the sample count the floor is matched to) those spaces store just the floor
    set: 1,000 EfficientNet images instead of up to ``max_train``. Entries already in the
    store and verified are kept, not recomputed. Images are decoded one batch at a time.
    """
    if store.read_only:
        raise ValueError(f"the feature store {store.directory} must be writable to store reference features")
    sets = real_reference_sets(test, train, max_test=max_test, max_train=max_train, seed=seed, n_samples=n_samples)
    nets = list(dict.fromkeys([*extractors, *([classifier] if classifier is not None else [])]))
    stored = []
    for net in nets:
        layers = feature_layers(net, scorer=net is classifier)
        # the scorer's floor features are rows of its train subset's; a distance space without a floor set
        # (no n_samples) stores the whole train subset, whose rows the floor then takes
        wanted = ("test", "train") if net is classifier or "floor" not in sets else ("test", "floor")
        for name, images in ((n, sets[n]) for n in wanted if n in sets):
            data = images.data_hash
            features = extract_cached(
                net, images, layers=layers, cache=store, images_hash=data, batch_size=batch_size, device=device
            )
            stored += [
                StoredFeatures(name, net.name, layer, *features[layer].shape, (net.name, data, layer) in store.computed)
                for layer in layers
            ]
    return stored
