"""Drawing samples that can be regenerated one by one: per-image seeds, mixtures, rejection filtering.

Every image ``i`` is drawn from its own ``torch.Generator`` seeded with
``image_seed(seed, i)``, so a sample depends only on (model, seed, index, label):
not on the batch size, not on its batch-mates, not on how many draws came
before it. Any single row of a samples table can therefore be regenerated with
``model.sample(1, labels=..., generator=torch.Generator().manual_seed(row.seed),
latent_scale=row.latent_scale)``.

Models take one generator per batch (``GenerativeModel.sample``). When the shared
noise function ``genqc.models.layers.randn`` accepts one generator per row, a
batch is drawn in one call with a generator per row; otherwise each image is
drawn alone (the same images, slower). Generators live on the CPU, so the noise
is the same on CPU and CUDA.

Mixtures (``ensemble``) split the ``n`` images among sources by the
largest-remainder method and interleave them; each row records its source. A
conditional source cycles its labels 0..K-1, so classes stay balanced.

Rejection filtering scores each draw (a ``Scorer``: realism or classifier
confidence) and redraws the slots whose draw fell below the threshold, with new
indices and so new seeds, until every slot is filled or ``max_draws * n``
candidates were drawn. Counts and every rejected draw (index, seed, score) are
returned, never silently dropped.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from genqc.progress import Progress

if TYPE_CHECKING:
    import torch
    from torch import nn

    from genqc.models.base import GenerativeModel

#: scores every row of a uint8 (B, H, W, C) batch: {"score": (B,), and any extra per-row columns}
Scorer = Callable[[np.ndarray], dict[str, np.ndarray]]
SCORE = "score"
NO_LABEL = -1  # the label column of an unconditional model's samples


def image_seed(seed: int, index: int) -> int:
    """The seed of image ``index`` in a run seeded ``seed``: 63 bits of SHA-256, stable across platforms."""
    digest = hashlib.sha256(f"genqc-sample:{int(seed)}:{int(index)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1  # fits int64 (parquet) and torch.Generator.manual_seed


@dataclass(frozen=True)
class Source:
    """One model of a mixture: ``model.sample(..., module=module, latent_scale=latent_scale)`` draws its images."""

    name: str
    model: GenerativeModel
    module: nn.Module | None = None
    latent_scale: float = 1.0  # the latent temperature (1 for a family without a latent code)

    @property
    def num_classes(self) -> int:
        return int(getattr(self.model.config, "num_classes", 0) or 0)


def mixture_counts(n: int, weights: Sequence[float]) -> list[int]:
    """Split ``n`` by ``weights`` with the largest-remainder method (ties go to the earlier source)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or len(w) == 0 or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"mixture weights must be non-negative with a positive sum, got {list(weights)}")
    exact = n * w / w.sum()
    counts = np.floor(exact).astype(np.int64)
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: n - int(counts.sum())]] += 1
    return counts.tolist()


def plan_slots(
    n: int, sources: Sequence[Source], weights: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(source index, label) of each of ``n`` slots: sources interleaved by share, labels cycling per source."""
    counts = mixture_counts(n, weights if weights else [1.0] * len(sources))
    source_of, position = [], []
    for m, count in enumerate(counts):
        source_of += [m] * count
        position += [(j + 0.5) / count for j in range(count)]  # evenly spread over [0, 1)
    order = np.lexsort((np.asarray(source_of), np.asarray(position)))  # by position, ties by source
    source_of = np.asarray(source_of, dtype=np.int64)[order]
    labels = np.full(n, NO_LABEL, dtype=np.int64)
    for m, src in enumerate(sources):
        rows = np.flatnonzero(source_of == m)
        if src.num_classes:
            labels[rows] = np.arange(len(rows)) % src.num_classes
    return source_of, labels


@functools.cache
def row_generators_supported() -> bool:
    """Whether ``genqc.models.layers.randn`` draws row i of a batch from generators[i] (a list)."""
    import torch

    from genqc.models import layers

    generators = [torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)]
    try:
        noise = layers.randn((2, 3), generators, torch.device("cpu"))  # type: ignore[arg-type]
    except (TypeError, RuntimeError, AttributeError):
        return False
    expected = torch.stack([torch.randn(3, generator=torch.Generator().manual_seed(s)) for s in (1, 2)])
    return tuple(noise.shape) == (2, 3) and bool(torch.equal(noise, expected))


def draw(
    source: Source, labels: np.ndarray, seeds: np.ndarray, *, batch_size: int, device: str | torch.device = "cpu"
) -> np.ndarray:
    """uint8 (N, H, W, C) images of one source, image i from its own generator seeded ``seeds[i]``."""
    import torch

    from genqc.data.tensors import tensor_to_uint8

    if len(labels) != len(seeds):
        raise ValueError(f"{len(labels)} labels but {len(seeds)} seeds")
    if batch_size < 1:
        raise ValueError(f"sample.batch_size must be >= 1, got {batch_size}")
    conditional = source.num_classes > 0
    batched = row_generators_supported()
    chunks = []
    progress = Progress(len(seeds), f"sample {source.name}", unit="img")
    for begin in range(0, len(seeds), batch_size):
        chunk_seeds = [int(s) for s in seeds[begin : begin + batch_size]]
        generators = [torch.Generator().manual_seed(s) for s in chunk_seeds]
        chunk_labels = torch.as_tensor(labels[begin : begin + batch_size], device=device) if conditional else None
        with torch.no_grad():
            if batched:
                images = source.model.sample(
                    len(chunk_seeds),
                    labels=chunk_labels,
                    generator=generators,  # type: ignore[arg-type]
                    module=source.module,
                    latent_scale=source.latent_scale,
                )
            else:
                images = torch.cat(
                    [
                        source.model.sample(
                            1,
                            labels=None if chunk_labels is None else chunk_labels[i : i + 1],
                            generator=g,
                            module=source.module,
                            latent_scale=source.latent_scale,
                        )
                        for i, g in enumerate(generators)
                    ]
                )
        chunks.append(tensor_to_uint8(images))
        progress.update(len(chunk_seeds))
    progress.close()
    if not chunks:
        raise ValueError("draw needs at least one seed")
    return np.concatenate(chunks)


@dataclass
class SampleResult:
    """Accepted images in slot order, with what regenerates each, plus every rejected draw."""

    images: np.ndarray  # uint8 (n_accepted, H, W, C)
    index: np.ndarray  # candidate index of each accepted image (its seed is image_seed(seed, index))
    seed: np.ndarray
    label: np.ndarray  # requested class, NO_LABEL for unconditional sources
    source: list[str]
    columns: dict[str, np.ndarray] = field(default_factory=dict)  # scorer outputs per accepted row
    rejected: dict[str, np.ndarray | list] = field(default_factory=dict)  # index, seed, label, source, score
    requested: int = 0
    drawn: int = 0

    @property
    def accepted(self) -> int:
        return len(self.index)

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.drawn if self.drawn else 0.0

    @property
    def complete(self) -> bool:
        return self.accepted == self.requested


def sample_images(
    sources: Sequence[Source],
    n: int,
    *,
    seed: int,
    batch_size: int,
    weights: Sequence[float] | None = None,
    scorer: Scorer | None = None,
    threshold: float | None = None,
    max_draws: float = 1.0,
    device: str | torch.device = "cpu",
) -> SampleResult:
    """Draw ``n`` images from the mixture of ``sources``; with ``threshold``, keep only draws scoring >= it.

    ``scorer`` (when given) scores every draw; its columns are returned for the
    accepted rows. Without ``threshold`` every draw is accepted. With one, slots
    whose draw scored below it are drawn again until all ``n`` are filled or
    ``max_draws * n`` candidates have been drawn (then ``complete`` is False).
    """
    if n < 1:
        raise ValueError(f"sample.n must be >= 1, got {n}")
    if not sources:
        raise ValueError("sample_images needs at least one source")
    if threshold is not None and scorer is None:
        raise ValueError("a rejection threshold needs a scorer")
    if max_draws < 1:
        raise ValueError(f"sample.filter.max_draws must be >= 1, got {max_draws}")
    slot_source, slot_label = plan_slots(n, sources, weights)
    budget = n if threshold is None else int(np.floor(max_draws * n))
    filled: dict[int, tuple[int, np.ndarray, dict[str, float]]] = {}  # slot -> (index, image, scores)
    rejected: dict[str, list] = {"index": [], "seed": [], "label": [], "source": [], SCORE: []}
    pending = np.arange(n)
    next_index = drawn = 0
    while len(pending) and drawn < budget:
        pending = pending[: budget - drawn]
        indices = np.arange(next_index, next_index + len(pending))
        next_index += len(pending)
        drawn += len(pending)
        seeds = np.array([image_seed(seed, i) for i in indices], dtype=np.int64)
        images: np.ndarray | None = None
        for m, src in enumerate(sources):
            rows = np.flatnonzero(slot_source[pending] == m)
            if len(rows) == 0:
                continue
            batch = draw(src, slot_label[pending[rows]], seeds[rows], batch_size=batch_size, device=device)
            if images is None:
                images = np.zeros((len(pending), *batch.shape[1:]), dtype=np.uint8)
            elif images.shape[1:] != batch.shape[1:]:
                raise ValueError(
                    f"ensemble sources draw different image shapes: {images.shape[1:]} from "
                    f"{sources[0].name!r}, {batch.shape[1:]} from {src.name!r}"
                )
            images[rows] = batch
        assert images is not None  # every pending slot belongs to some source
        scores = _score(scorer, images, batch_size)
        keep = np.ones(len(pending), bool) if threshold is None else scores[SCORE] >= threshold
        for j, slot in enumerate(pending):
            row_scores = {k: v[j] for k, v in scores.items()}
            if keep[j]:
                filled[int(slot)] = (int(indices[j]), images[j], row_scores)
            else:
                for key, value in (
                    ("index", indices[j]),
                    ("seed", seeds[j]),
                    ("label", slot_label[slot]),
                    ("source", sources[slot_source[slot]].name),
                    (SCORE, scores[SCORE][j]),
                ):
                    rejected[key].append(value)
        pending = pending[~keep]
    return _result(filled, sources, slot_source, slot_label, seed, rejected, n, drawn)


def _score(scorer: Scorer | None, images: np.ndarray, batch_size: int) -> dict[str, np.ndarray]:
    """The scorer's columns for a uint8 batch, each checked to hold one finite-or-NaN value per row."""
    if scorer is None:
        return {}
    columns: dict[str, list[np.ndarray]] = {}
    for begin in range(0, len(images), batch_size):
        for key, values in scorer(images[begin : begin + batch_size]).items():
            columns.setdefault(key, []).append(np.asarray(values))
    out = {key: np.concatenate(parts) for key, parts in columns.items()}
    for key, values in out.items():
        if values.shape[:1] != (len(images),):
            raise ValueError(f"scorer column {key!r} has shape {values.shape}, expected ({len(images)},)")
    if SCORE not in out:
        raise ValueError(f"scorer returned no {SCORE!r} column (got {sorted(out)})")
    out[SCORE] = np.nan_to_num(out[SCORE].astype(np.float64), nan=-np.inf)  # a NaN score never passes a filter
    return out


def _result(filled, sources, slot_source, slot_label, seed, rejected, n, drawn) -> SampleResult:
    slots = sorted(filled)
    index = np.array([filled[s][0] for s in slots], dtype=np.int64)
    first = next(iter(filled.values()))[1] if filled else None
    images = np.stack([filled[s][1] for s in slots]) if filled else np.zeros((0, 1, 1, 1), np.uint8)
    columns: dict[str, np.ndarray] = {}
    if first is not None:
        for key in filled[slots[0]][2]:
            columns[key] = np.array([filled[s][2][key] for s in slots])
    return SampleResult(
        images=images,
        index=index,
        seed=np.array([image_seed(seed, i) for i in index], dtype=np.int64),
        label=slot_label[slots].astype(np.int64) if slots else np.zeros(0, np.int64),
        source=[sources[slot_source[s]].name for s in slots],
        columns=columns,
        rejected={
            "index": np.asarray(rejected["index"], np.int64),
            "seed": np.asarray(rejected["seed"], np.int64),
            "label": np.asarray(rejected["label"], np.int64),
            "source": list(rejected["source"]),
            SCORE: np.asarray(rejected[SCORE], np.float64),
        },
        requested=n,
        drawn=drawn,
    )


def classifier_scorer(
    extractor: object,
    *,
    kind: str,
    real_features: np.ndarray | None = None,
    k: int = 3,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
) -> Scorer:
    """Score draws with the domain classifier: predicted label, confidence and (given real features) realism.

    ``kind`` picks the column the filter judges: ``realism`` (k-NN realism score of
    the draw's classifier features against ``real_features``) or ``confidence``
    (top softmax probability); ``none`` scores by confidence but filters nothing.
    """
    from genqc.metrics.prdc import realism_score

    if kind == "realism" and real_features is None:
        raise ValueError("the realism filter needs the real training features (real_features=)")

    def score(images: np.ndarray) -> dict[str, np.ndarray]:
        layers = extractor.extract(images, layers=["pool", "logits"], batch_size=batch_size, device=device)  # type: ignore[attr-defined]
        logits = layers["logits"].astype(np.float64)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        out = {"predicted_label": probs.argmax(axis=1).astype(np.int64), "confidence": probs.max(axis=1)}
        if real_features is not None:
            out["realism"] = realism_score(real_features, layers["pool"], k=k)
        out[SCORE] = out["realism"] if kind == "realism" else out["confidence"]
        return out

    return score
