"""Pydantic models of params.yaml, one per section, and a loader with clear errors.

Every knob of the pipeline is here with its allowed range, so a typo or an
out-of-range value stops the stage before any work with one line per problem:
the key, the value found and what is allowed (exit 2). Unknown keys are errors,
not silently ignored, because a misspelt key would otherwise run with defaults.
Values are strict: YAML's ``true`` is not the integer 1, ``1.5`` is not an
integer, and NaN or infinity is refused wherever a number goes. A params file
refuses duplicate keys (YAML would keep the last one silently).

The ``train:`` keys, each ``train.<family>`` section and the ``classifier:`` section
are derived from the library's frozen dataclasses (genqc/training/config.py and
genqc/models/configs/): names, types, ranges and defaults are declared there
once, so this schema and the code it configures cannot drift.

The library (``genqc``) never reads params.yaml itself; stage modules in
``tasks/`` load it here and pass plain values or these models on.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar, get_origin, get_type_hints

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from genqc.data.sources import parse_source
from genqc.errors import ConfigError
from genqc.evaluation.keys import is_metric_key, known_metric_keys
from genqc.models.configs import (
    FAMILY_CONFIGS,
    SHAPE_FIELDS,
    ClassifierBudget,
    ClassifierConfig,
    ClassifierTraining,
    latent_families,
)
from genqc.training.config import Seed, TrainConfig

Severity = Literal["error", "warning", "off"]  # `off` stays a string: ParamsLoader reads YAML 1.2 booleans
Device = Literal["auto", "cpu", "cuda"]


class Section(BaseModel):
    """Base for every section: unknown keys are errors, types are strict, numbers finite, models immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def _list_to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _yaml_friendly(annotation: Any) -> Any:
    """A tuple field accepts YAML's list (strict mode would refuse it); its items stay strict."""
    base = annotation.__origin__ if get_origin(annotation) is Annotated else annotation
    return Annotated[annotation, BeforeValidator(_list_to_tuple)] if get_origin(base) is tuple else annotation


Config = TypeVar("Config")


class DerivedSection(Section):
    """A section whose fields come from library dataclasses; validating it also runs their own checks."""

    sources: ClassVar[tuple[type, ...]] = ()

    @model_validator(mode="after")
    def _sources_accept(self) -> DerivedSection:
        for source in self.sources:
            self.build(source)  # a dataclass's __post_init__ checks (e.g. DiffAugment ops) run at load time
        return self

    def build(self, source: type[Config], **extra: Any) -> Config:
        """``source`` (one of ``sources``) from this section's values plus ``extra`` (fields params do not hold)."""
        names = {f.name for f in dataclasses.fields(source)}
        return source(**{name: getattr(self, name) for name in names if name in type(self).model_fields}, **extra)


def derive_section(
    name: str, doc: str, *sources: type, exclude: Collection[str] = (), base: type[DerivedSection] = DerivedSection
) -> type[DerivedSection]:
    """A params section with the fields of the ``sources`` dataclasses (minus ``exclude``) after ``base``'s own."""
    fields: dict[str, Any] = {}
    for source in sources:
        hints = get_type_hints(source, include_extras=True)
        for item in dataclasses.fields(source):
            if item.name in exclude:
                continue
            if item.name in fields or item.name in base.model_fields:
                raise TypeError(f"{name}: field {item.name!r} is declared twice ({source.__name__})")
            if item.default is dataclasses.MISSING:
                raise TypeError(f"{name}: {source.__name__}.{item.name} needs a default to be a params key")
            fields[item.name] = (_yaml_friendly(hints[item.name]), item.default)
    section = create_model(name, __base__=base, __doc__=doc, __module__=__name__, **fields)
    section.sources = sources
    return section


# --------------------------------------------------------------------------- ingest
class IngestParams(Section):
    source: str = "builtin:mnist5k"  # builtin:mnist5k|digits|shapes, idx:DIR, folder:DIR, npz:FILE, parquet:FILE
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    image_size: int = Field(32, ge=4, le=1024)  # 32: the power of two the conv models up-sample to
    channels: Literal[1, 3] = 1
    resize: Literal["stretch", "crop", "pad"] = "pad"  # pad keeps MNIST's 28x28 digits unscaled in 32x32
    split: Literal["stratified", "source"] = "stratified"  # source: keep the dataset's own train/test split
    # class name (folder name or string label) -> label; pinned names never change label when classes are added.
    # Unpinned names: a canonical integer name is its number, others follow in sorted order (data/ingest/classes.json)
    class_map: dict[str, int] = {}
    # largest decoded array a dataset file may declare (npz members, idx files, parquet row groups, in MiB); checked
    # against headers before anything is allocated. 4096: 5M 28x28 or 350k 64x64 RGB uint8 images fit.
    max_array_mib: int = Field(4096, ge=1, le=1_048_576)

    @field_validator("class_map", mode="before")
    @classmethod
    def _labels_in_range(cls, value: Any) -> Any:
        from genqc.data.labels import MAX_LABEL

        if not isinstance(value, dict):
            return value  # pydantic reports the type

        def valid(label: Any) -> bool:  # an integer, never a bool, a string or a float that pydantic would cast
            return isinstance(label, int) and not isinstance(label, bool) and 0 <= label <= MAX_LABEL

        bad = {name: label for name, label in value.items() if not valid(label) or not name}
        if bad:
            raise ValueError(f"labels must be 0..{MAX_LABEL} and names non-empty; got {bad}")
        seen: dict[int, str] = {}
        for name, label in value.items():
            if label in seen:
                raise ValueError(f"{seen[label]!r} and {name!r} both map to label {label}; give each class its own")
            seen[label] = name
        return value

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        try:
            parse_source(value)
        except ConfigError as exc:
            raise ValueError(str(exc).split("; ", 1)[-1]) from None
        return value


# --------------------------------------------------------------------------- validate
class ValidateSeverities(Section):
    """Severity of each check: ``error`` fails the gate, ``warning`` is reported, ``off`` skips it."""

    schema_: Severity = Field("error", alias="schema")
    nulls: Severity = "error"
    labels: Severity = "error"
    decode: Severity = "error"
    size: Severity = "error"
    channels: Severity = "error"
    blank: Severity = "error"
    saturated: Severity = "error"
    near_constant: Severity = "warning"
    duplicate_id: Severity = "error"  # an id already used by an earlier row of the split (the first stays clean)
    exact_duplicate: Severity = "error"
    near_duplicate: Severity = "warning"
    leakage: Severity = "error"
    near_leakage: Severity = "warning"
    class_balance: Severity = "error"
    label_kl: Severity = "error"  # not class_kl: metrics.json's class_kl is the generated-class KL (evaluate)
    attribute_balance: Severity = "error"
    attribute_kl: Severity = "error"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, value: Any) -> Any:
        if isinstance(value, dict) and "class_kl" in value:
            raise ValueError(
                "class_kl was renamed label_kl (evaluate's metrics.json owns class_kl); "
                "write validate.severity.label_kl instead"
            )
        return value


class ValidateParams(Section):
    severity: ValidateSeverities = ValidateSeverities()
    expected_labels: list[int] | None = None  # None: class_weights' keys if given, else the train split's labels
    blank_max_mean: float = Field(2.0, ge=0, le=255)  # a mean at most this (0-255 scale) is a blank image
    saturated_min_mean: float = Field(253.0, ge=0, le=255)  # a mean at least this is a saturated image
    min_std: float = Field(2.0, ge=0, le=128)  # a pixel std below this is a near-constant image
    # pHash bits that may differ for a near-duplicate candidate; 4 of 64 is imagehash's usual "similar" radius.
    near_duplicate_hamming: int = Field(4, ge=0, le=32)
    # Candidates are confirmed on pixels: mean |a - b| (0-255 scale) at most this. Distinct MNIST digits that
    # share a pHash differ by >= 1.7; a copy with a few edited pixels differs by well under 1.
    near_duplicate_max_pixel_diff: float = Field(1.0, ge=0, le=255)
    balance_tolerance: float = Field(0.25, gt=0, le=1)  # |share - expected| <= tolerance * expected
    max_kl: float = Field(0.05, ge=0)  # KL(observed || expected) of the label distribution, in nats
    class_weights: dict[int, float] | None = None  # expected label distribution; None means uniform
    attributes: list[str] = []  # extra metadata columns to check for balance (bias by attribute)
    attribute_weights: dict[str, dict[str, float]] = {}  # expected distribution per attribute; default uniform
    max_row_fraction: float = Field(0.0, ge=0, le=1)  # share of rows an error-level row check may fail
    history: int = Field(10, ge=1, le=1000)  # validation runs kept in gx/ and listed by the Data Docs index

    @field_validator("class_weights")
    @classmethod
    def _positive_weights(cls, value: dict[int, float] | None) -> dict[int, float] | None:
        if value is not None and (not value or any(w < 0 for w in value.values()) or sum(value.values()) <= 0):
            raise ValueError("class weights must be non-negative with a positive sum")
        return value

    @field_validator("attribute_weights")
    @classmethod
    def _positive_attribute_weights(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for name, weights in value.items():
            if not weights or any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
                raise ValueError(f"weights of attribute {name!r} must be non-negative with a positive sum")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ValidateParams:
        unknown = sorted(set(self.attribute_weights) - set(self.attributes))
        if unknown:
            raise ValueError(
                f"attribute_weights names {unknown}, which are not in validate.attributes "
                f"{self.attributes}; add them there or remove their weights"
            )
        if len(set(self.attributes)) != len(self.attributes):
            raise ValueError(f"attributes lists a column twice: {self.attributes}")
        if (
            self.class_weights
            and self.expected_labels is not None
            and set(self.class_weights) != set(self.expected_labels)
        ):
            raise ValueError(
                f"class_weights keys {sorted(self.class_weights)} differ from expected_labels "
                f"{sorted(self.expected_labels)}; give the same labels in both or drop one"
            )
        if self.blank_max_mean >= self.saturated_min_mean:
            raise ValueError(
                f"blank_max_mean={self.blank_max_mean} must be below saturated_min_mean={self.saturated_min_mean}"
            )
        return self


# --------------------------------------------------------------------------- augment
class AugmentOp(Section):
    p: float = Field(0.0, ge=0.0, le=1.0)  # probability the op is applied to an image
    magnitude: float = 0.0  # op-specific strength; each op's allowed range lives in genqc.augment.OPS


class AugmentParams(Section):
    """Ops not listed are off. Defaults are label-preserving for digits: no flips (a flipped 2 is not a 2)."""

    # augmented versions per original; off by default: the generator learns the copies' distortions (docs/levers.md)
    copies: int = Field(0, ge=0, le=64)
    batch_size: int = Field(2048, ge=1, le=1_000_000)  # images per tensor batch; bounds memory, never the output
    ops: dict[str, AugmentOp] = {
        "hflip": AugmentOp(p=0.0),  # off: mirroring changes digits' meaning; turn on for natural images
        "vflip": AugmentOp(p=0.0),  # off: same reason
        "crop": AugmentOp(p=0.2, magnitude=0.1),  # crop <=10% of the side and resize back: a slight zoom
        "rotate": AugmentOp(p=0.5, magnitude=10.0),  # degrees; digits stay legible under small rotations
        "translate": AugmentOp(p=0.5, magnitude=0.08),  # fraction of the side: ~2.5 px at 32 px, digit stays inside
        "brightness": AugmentOp(p=0.3, magnitude=0.2),  # factor in [0.8, 1.2]
        "contrast": AugmentOp(p=0.3, magnitude=0.2),  # factor in [0.8, 1.2] about the mean grey
        "noise": AugmentOp(p=0.1, magnitude=0.02),  # std 5/255: visible, far from drowning the strokes
        "cutout": AugmentOp(p=0.1, magnitude=0.2),  # a 6 px square at 32 px: rarely erases a whole stroke
    }


# --------------------------------------------------------------------------- classifier
class _ClassifierBase(DerivedSection):
    device: Device = "auto"  # auto: CUDA when present
    val_fraction: float = Field(0.1, gt=0, lt=1)  # train share held out for target_accuracy (only when it is set)
    # below it the stage prints a WARNING and records evaluator_ok: false; 0.8 sits under mnist5k (0.99) and
    # Fashion-MNIST (~0.9) and far above a broken run (0.06 seen); no better than a constant guess exits 1
    min_accuracy: float = Field(0.8, ge=0, le=1)


ClassifierParams = derive_section(
    "ClassifierParams",
    "classifier: the fields of ClassifierConfig (minus shape fields) and ClassifierTraining.",
    ClassifierConfig,
    ClassifierTraining,
    ClassifierBudget,
    exclude=SHAPE_FIELDS,
    base=_ClassifierBase,
)


# --------------------------------------------------------------------------- train
#: train.<family> for each family, from its config in genqc/models/configs/ (shape fields come from ingest)
FAMILY_PARAMS: dict[str, type[DerivedSection]] = {
    family: derive_section(
        f"{config.__name__.removesuffix('Config')}Params",
        f"train.{family}: the fields of {config.__name__} minus the shape fields filled from ingest.",
        config,
        exclude=SHAPE_FIELDS,
    )
    for family, config in FAMILY_CONFIGS.items()
}
DCGANParams, VAEParams, DDPMParams = FAMILY_PARAMS["dcgan"], FAMILY_PARAMS["vae"], FAMILY_PARAMS["ddpm"]
Family = Literal[tuple(FAMILY_CONFIGS)]  # type: ignore[valid-type]


class _TrainBase(DerivedSection):
    """The train keys only the pipeline knows: which families run, where, in how many processes."""

    model: Family = "dcgan"  # `genqc train --model X` overrides it
    # the families dvc.yaml's matrix trains, samples and evaluates; train.model is the primary one whose
    # metrics land in reports/metrics.json, so it must be listed here. The VAE is left out by default (its
    # blurred samples fail the FD-ratio gate as blurred real images do), and ddpm (~10 min on 2 CPU cores)
    models: list[Family] = Field(["dcgan"], min_length=1)
    device: Device = "auto"  # auto: CUDA when present; cuda on a machine without it is a config error
    # class-conditional model (num_classes from the labels): on mnist5k FD ratio 6.6 against 17 unconditional,
    # class KL 0.002 against 0.02 (docs/levers.md); false: one model of the whole distribution
    conditional: bool = True
    nproc: int = Field(1, ge=1, le=1024)  # >1: the stage relaunches itself under torchrun (DDP, one per GPU)
    resume: bool = True  # continue from data/train/<family>/last.pt; false starts over and overwrites it

    @model_validator(mode="after")
    def _primary_is_trained(self) -> _TrainBase:
        if self.model not in self.models:
            raise ValueError(
                f"train.model={self.model!r} is not in train.models={self.models}; "
                "add it to train.models (the families dvc.yaml trains) or pick one of them"
            )
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"train.models={self.models} lists a family twice; list each once")
        return self


_TrainWithLoop = derive_section(
    "_TrainWithLoop", "train: pipeline keys and TrainConfig's.", TrainConfig, exclude=("seed",), base=_TrainBase
)
TrainParams = create_model(
    "TrainParams",
    __base__=_TrainWithLoop,
    __module__=__name__,
    __doc__="train: the pipeline's keys, TrainConfig's (seed is the top-level key) and one section per family.",
    **{family: (section, section()) for family, section in FAMILY_PARAMS.items()},
)


# --------------------------------------------------------------------------- sample
class SampleFilter(Section):
    """Optional rejection sampling: drop draws the domain classifier finds unrealistic, keep drawing."""

    kind: Literal["none", "realism", "confidence"] = "none"  # none: every draw is kept
    # realism: k-NN realism score (Kynkaanniemi et al. 2019; >= 1 lies inside the real manifold's balls);
    # confidence: the classifier's top softmax probability, in [0, 1]
    threshold: float = Field(1.0, ge=0)
    k: int = Field(3, ge=1, le=100)  # neighbours defining the real manifold's ball radii (realism only)
    max_draws: float = Field(5.0, ge=1, le=1000)  # stop after max_draws * sample.n candidates, short of n

    @model_validator(mode="after")
    def _threshold_in_range(self) -> SampleFilter:
        if self.kind == "confidence" and self.threshold > 1:
            raise ValueError(
                f"sample.filter.threshold={self.threshold} is a probability for kind 'confidence'; "
                "use a value in [0, 1]"
            )
        return self


class SampleParams(Section):
    n: int = Field(1000, ge=1)  # 1000 images: FD/KID/PRDC intervals of a few percent on mnist5k's 1000 test images
    batch_size: int = Field(250, ge=1)  # images per forward pass; never changes the images (per-image seeds)
    use_ema: bool = True  # sample from the EMA weights (smoother, better FD); false: the raw weights in last.pt
    ensemble: list[str] = []  # extra checkpoints (other seeds, other families) mixed with train.model's
    weights: list[float] = []  # mixture shares of [primary, *ensemble]; empty: equal shares
    filter: SampleFilter = SampleFilter()
    device: Device = "auto"  # auto: CUDA when present
    grid: int = Field(8, ge=1, le=64)  # the sample grid PNG is grid x grid images (one row per class if conditional)
    # latent temperature per family with a latent code: z ~ N(0, s^2 I). Below 1 trades recall for precision
    # (the truncation trick), above 1 precision for recall; unlisted families draw at 1 (docs/levers.md)
    latent_scale: dict[Family, Annotated[float, Field(gt=0, le=4)]] = {"dcgan": 1.2}

    @model_validator(mode="after")
    def _latent_families(self) -> SampleParams:
        without = [family for family in self.latent_scale if family not in latent_families()]
        if without:
            raise ValueError(
                f"sample.latent_scale lists {', '.join(without)}: no latent code to scale; "
                f"list only families that have one ({', '.join(latent_families())})"
            )
        return self

    @model_validator(mode="after")
    def _weights_match(self) -> SampleParams:
        if self.weights:
            if len(self.weights) != 1 + len(self.ensemble):
                raise ValueError(
                    f"sample.weights has {len(self.weights)} entries but there are "
                    f"{1 + len(self.ensemble)} models (train.model + {len(self.ensemble)} in "
                    "sample.ensemble); give one weight each or [] for equal shares"
                )
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError(f"sample.weights={self.weights} must be non-negative with a positive sum")
        return self


# --------------------------------------------------------------------------- evaluate
class EvaluateParams(Section):
    # feature spaces every distance is computed in; each metric key ends with the extractor's name
    extractors: list[Literal["classifier", "effnet_lite0", "inception"]] = Field(
        ["classifier", "effnet_lite0"], min_length=1
    )
    bootstrap: int = Field(100, ge=0, le=100000)  # resamples per interval; 0 disables intervals
    ci_level: float = Field(0.95, gt=0, lt=1)
    kid_subsets: int = Field(100, ge=1)  # KID's seeded subsets (the convention: 100 x min(1000, n))
    kid_subset_size: int = Field(1000, ge=2)  # capped at the smaller set's size
    kid_bootstrap_subsets: int = Field(10, ge=1)  # KID's subsets inside each bootstrap resample (cost bound)
    k_prc: int = Field(3, ge=1)  # neighbours for precision/recall (Kynkaanniemi et al.)
    k_dc: int = Field(5, ge=1)  # neighbours for density/coverage (Naeem et al.)
    # images per extractor forward pass; never changes the features. 64: EfficientNet at 224 px peaked at 1.8 GB
    # in evaluate on Fashion-MNIST, against 4.0 GB at 256, and ran no slower on 2 CPU cores (bench/scale.py)
    batch_size: int = Field(64, ge=1)
    device: Device = "auto"
    inception_weights: str | None = None  # path to pt_inception-2015-12-05 weights; required for 'inception'
    max_train: int = Field(10000, ge=1)  # train images (seeded subset) for memorisation and the train/test floor
    max_test: int = Field(2000, ge=2)  # test images (seeded subset): the real reference of every distance
    # spaces that also get FD extrapolated to infinitely many samples (needs n/2 well above the dimension)
    fd_inf: list[Literal["classifier", "effnet_lite0", "inception"]] = ["classifier"]
    nearest: int = Field(16, ge=0, le=10000)  # closest sample/train pairs kept for the report
    classifier: bool = True  # false: skip the classifier's IS, class balance and memorisation (no checkpoint needed)

    #: the keys above that are keyword knobs of genqc.evaluate, passed through unchanged
    EVALUATE_KNOBS: ClassVar[tuple[str, ...]] = (
        "bootstrap",
        "ci_level",
        "kid_subsets",
        "kid_subset_size",
        "kid_bootstrap_subsets",
        "k_prc",
        "k_dc",
        "max_train",
        "max_test",
        "fd_inf",
        "nearest",
        "batch_size",
    )

    def evaluate_options(self) -> dict[str, Any]:
        """The ``genqc.evaluate`` keywords this section sets: the stage and bench/gates.py pass the same ones."""
        return {name: getattr(self, name) for name in self.EVALUATE_KNOBS}


# --------------------------------------------------------------------------- gates
class GatesParams(Section):
    """Quality gates on metrics.json keys: each ``max`` key must stay <= its limit, each ``min`` key >= it."""

    fail: bool = True  # false: verdicts are recorded in metrics.json but the stage exits 0
    # true: judge the interval's pessimistic end (ci_high for max, ci_low for min) so that a pass is certain
    # at ci_level; false: judge the point estimate
    conservative: bool = False
    # defaults: measured by bench/gates.py on mnist5k (margins in docs/metrics.md): held-out real images and the
    # default DCGAN pass; blur, collapse, one class and noise fail the FD ratio and more; copies and shifted
    # copies (real images, so a real FD) fail the memorisation gates
    max: dict[str, float] = {
        "fd_classifier_ratio": 25.0,  # FD over its floor; default DCGAN ~7, blur 100, 2-image collapse 310
        "class_kl": 0.05,  # KL(train classes || generated classes), nats: collapse, class bias (blur 0.09)
        "memorization_near_copy_share": 0.05,  # closer to a train image than half its nearest train neighbour
        "memorization_shifted_near_copy_share": 0.05,  # the same in pixel space over small shifts: moved copies
        "exact_copy_share": 0.0,  # pixel-identical copies of training images
    }
    min: dict[str, float] = {
        "precision_classifier": 0.7,  # noise and garbage land outside the real manifold (blur 0.35, DCGAN 0.85)
        "recall_classifier": 0.5,  # blurred real images 0.003, the VAE 0.43; DCGAN 0.79 (Fashion-MNIST 0.62)
        "coverage_classifier": 0.5,  # one of K classes covers ~1/K of real neighbourhoods; DCGAN 0.94 (F-MNIST 0.62)
        "modes_covered_share": 0.9,  # share of classes the classifier finds among the samples
        "memorization_ct": -3.0,  # C_T z-score: held-out real images ~0, training copies < -8
    }

    @field_validator("max", "min")
    @classmethod
    def _metric_keys(cls, value: dict[str, float]) -> dict[str, float]:
        import math
        import re

        for key, limit in value.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
                raise ValueError(f"gate key {key!r} is not a metric key (snake_case, as in metrics.json)")
            if not math.isfinite(limit):
                raise ValueError(f"gate {key}: limit {limit!r} must be a finite number")
        return value


# --------------------------------------------------------------------------- orchestration
class PrefectParams(Section):
    """How the Prefect flow (flows/pipeline.py) treats stage failures; DVC still decides what runs."""

    # dvc.yaml names whose failures may be transient (a preempted GPU, an OOM under contention);
    # a matrix item counts under its name (train@vae is train). Deterministic stages fail fast.
    retry_stages: list[str] = ["train", "sample"]
    retries: int = Field(2, ge=0, le=100)  # 2: one transient fault plus one more, without hiding a real bug
    retry_delay_s: float = Field(10.0, ge=0)  # 10 s lets a busy GPU or a remote recover between tries

    @field_validator("retry_stages")
    @classmethod
    def _stage_names(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not name or "@" in name or any(c.isspace() for c in name)]
        if bad:
            raise ValueError(f"stage names must be dvc.yaml names without '@item' or spaces, got {bad}")
        return value


class Params(Section):
    seed: Seed = 0  # every random choice of every stage derives from it
    threads: int | None = Field(None, ge=1, le=4096)  # torch/BLAS threads per stage; None: the cores available
    ingest: IngestParams = IngestParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    augment: AugmentParams = AugmentParams()
    classifier: ClassifierParams = ClassifierParams()  # type: ignore[valid-type]
    train: TrainParams = TrainParams()  # type: ignore[valid-type]
    sample: SampleParams = SampleParams()
    evaluate: EvaluateParams = EvaluateParams()
    gates: GatesParams = GatesParams()
    prefect: PrefectParams = PrefectParams()

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: Any) -> Any:
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise ValueError("params must be a mapping of sections (seed, ingest, validate, ...)")
        return data

    @model_validator(mode="after")
    def _gates_name_metrics(self) -> Params:
        """A gate must name a key evaluate produces here: refused at load, not after training and sampling."""
        scope = {
            "extractors": self.evaluate.extractors,
            "classifier": self.evaluate.classifier,
            "families": self.train.models,
            "fd_inf": self.evaluate.fd_inf,
        }
        unknown = [
            f"gates.{kind}.{key}"
            for kind, limits in (("max", self.gates.max), ("min", self.gates.min))
            for key in limits
            if not is_metric_key(key, **scope)
        ]
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)}: no such metric for evaluate.extractors={list(self.evaluate.extractors)}, "
                f"evaluate.classifier={self.evaluate.classifier}, train.models={list(self.train.models)}; fix "
                f"the key in the gates section. Valid keys: {', '.join(known_metric_keys(**scope))}"
                + (", fd_classifier_class<k> (conditional models)" if self.evaluate.classifier else "")
            )
        return self


def _allowed_keys(model: type[BaseModel], path: tuple) -> list[str]:
    """The keys allowed at ``path`` inside ``model`` (for unknown-key messages)."""
    current: Any = model
    for part in path:
        field = current.model_fields.get(part) or next(
            (f for f in current.model_fields.values() if f.alias == part), None
        )
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        current = annotation
    return sorted(f.alias or name for name, f in current.model_fields.items())


#: keys an older params.yaml had, and where they live now (the unknown-key message says so)
MOVED_KEYS = {
    f"train.{key}": f"train.<family>.{key} (each family has its own optimiser)"
    for key in ("lr", "betas", "weight_decay")
}


def _problem(error: Any, source: str) -> str:
    """One line for one pydantic error: the key, the value found and what is allowed."""
    location = tuple(str(p) for p in error["loc"])
    key = ".".join(location) or "(top level)"
    if error["type"] == "extra_forbidden":
        if key in MOVED_KEYS:
            return f"{source}: unknown key {key!r}: it moved to {MOVED_KEYS[key]}"
        allowed = _allowed_keys(Params, location[:-1])
        return f"{source}: unknown key {key!r}; allowed here: {', '.join(allowed)}"
    value = error.get("input")
    if error["type"] == "finite_number":
        return f"{source}: {key}={value!r}: must be a finite number (not NaN or infinity)"
    message = error["msg"].removeprefix("Value error, ")
    if isinstance(value, Mapping | list | tuple):  # a whole section or list failed: its dump would be noise
        whole = not location or message.startswith(f"{key}.")  # the message names its own key
        return f"{source}: {message}" if whole else f"{source}: {key}: {message}"
    return f"{source}: {key}={value!r}: {message}"


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: ``params.yaml: train.steps=-1: Input should be greater than or equal to 1``."""
    return "\n".join(_problem(error, source) for error in exc.errors())


def parse_params(data: Any, source: str = "params") -> Params:
    """Validate a params mapping; raise ConfigError with one line per problem."""
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


#: the top-level keys of params.yaml; a stage needs a file that names every one (tasks/common.py)
#: top-level keys a params file may leave out: they tune speed, never results (threads: the cores available)
OPTIONAL_KEYS = ("threads",)
SECTIONS = tuple(field.alias or name for name, field in Params.model_fields.items() if name not in OPTIONAL_KEYS)


def _duplicate_keys(node: yaml.Node, path: str = "") -> list[str]:
    """``key (line N)`` for every mapping key that appears twice in the same mapping, depth first."""
    found: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            dotted = f"{path}.{key}" if path else str(key)
            if key in seen:
                found.append(f"{dotted} (line {key_node.start_mark.line + 1})")
            seen.add(key)
            found += _duplicate_keys(value_node, dotted)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found += _duplicate_keys(item, f"{path}[{index}]")
    return found


class ParamsLoader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2's numbers and booleans, as DVC writes params files.

    PyYAML follows YAML 1.1: ``1e-05`` (no dot) is a string and ``off``/``no``/``on``/``yes``
    are booleans. ``dvc exp run -S train.l1=0.00001`` writes ``l1: 1e-05`` and ``-S
    validate.severity.x=off`` writes ``off``; read as YAML 1.1 the stage would refuse its own
    params. Here an exponent float is a float and only true/false are booleans.
    """


ParamsLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def load_params_text(text: str) -> Any:
    """A params document (or an override's value) read as :class:`ParamsLoader` reads it."""
    return yaml.load(text, Loader=ParamsLoader)


def read_params_yaml(path: Path) -> Any:
    """The YAML document of a params file; duplicate keys and syntax errors are ConfigErrors naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=ParamsLoader)
        duplicates = _duplicate_keys(node) if node is not None else []
        data = load_params_text(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if duplicates:
        raise ConfigError(
            f"{path}: duplicate key {', '.join(duplicates)}; YAML would keep only the last, so give each key once"
        )
    return data


def load_params(path: str | Path = "params.yaml", *, required: Collection[str] = ()) -> Params:
    """Read and validate a params file; a missing file, bad YAML or a missing ``required`` section is a ConfigError.

    The stages require every section (``SECTIONS``): a file without, say, ``train:``
    would otherwise run that stage on defaults without a word.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file {path} not found; run from the repository root or pass --params FILE")
    data = read_params_yaml(path)
    if data is None:
        raise ConfigError(
            f"{path} is empty; it needs the sections {', '.join(required or SECTIONS)} "
            "(copy the repository's params.yaml)"
        )
    if isinstance(data, dict):
        missing = [name for name in required if name not in data]
        if missing:
            raise ConfigError(
                f"{path}: missing section(s) {', '.join(missing)}; every stage needs all of "
                f"{', '.join(required)} (copy them from the repository's params.yaml)"
            )
    return parse_params(data, str(path))
