"""Pydantic models of params.yaml, one per section, and a loader with clear errors.

Every knob of the pipeline is here with its allowed range, so a typo or an
out-of-range value stops the stage before any work with one line per problem:
the key, the value found and what is allowed (exit 2). Unknown keys are errors,
not silently ignored, because a misspelt key would otherwise run with defaults.

The library (``genqc``) never reads params.yaml itself; stage modules in
``tasks/`` load it here and pass plain values or these models on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from genqc.errors import ConfigError

Severity = Literal["error", "warning", "off"]
Device = Literal["auto", "cpu", "cuda"]


class Section(BaseModel):
    """Base for every section: unknown keys are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- ingest
class IngestParams(Section):
    source: str = "builtin:mnist5k"  # builtin:mnist5k|digits, idx:DIR, folder:DIR, npz:FILE, parquet:FILE
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    image_size: int = Field(32, ge=4, le=1024)  # 32: the power of two the conv models up-sample to
    channels: Literal[1, 3] = 1
    resize: Literal["stretch", "crop", "pad"] = "pad"  # pad keeps MNIST's 28x28 digits unscaled in 32x32
    split: Literal["stratified", "source"] = "stratified"  # source: keep the dataset's own train/test split

    @field_validator("source")
    @classmethod
    def _known_source(cls, value: str) -> str:
        from genqc.data.sources import parse_source

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
    exact_duplicate: Severity = "error"
    near_duplicate: Severity = "warning"
    leakage: Severity = "error"
    near_leakage: Severity = "warning"
    class_balance: Severity = "error"
    class_kl: Severity = "error"
    attribute_balance: Severity = "error"
    attribute_kl: Severity = "error"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ValidateParams(Section):
    severity: ValidateSeverities = ValidateSeverities()
    expected_labels: list[int] | None = None  # None: the labels present in the train split
    blank_max_mean: float = Field(2.0, ge=0, le=255)  # a mean at most this (0-255 scale) is a blank image
    saturated_min_mean: float = Field(253.0, ge=0, le=255)  # a mean at least this is a saturated image
    min_std: float = Field(2.0, ge=0, le=128)  # a pixel std below this is a near-constant image
    near_duplicate_hamming: int = Field(4, ge=0, le=32)  # pHash bits that may differ for a near-duplicate
    balance_tolerance: float = Field(0.25, gt=0, le=1)  # |share - expected| <= tolerance * expected
    max_kl: float = Field(0.05, ge=0)  # KL(observed || expected) of the label distribution, in nats
    class_weights: dict[int, float] | None = None  # expected label distribution; None means uniform
    attributes: list[str] = []  # extra metadata columns to check for balance (bias by attribute)
    attribute_weights: dict[str, dict[str, float]] = {}  # expected distribution per attribute; default uniform
    max_row_fraction: float = Field(0.0, ge=0, le=1)  # share of rows an error-level row check may fail

    @field_validator("class_weights")
    @classmethod
    def _positive_weights(cls, value: dict[int, float] | None) -> dict[int, float] | None:
        if value is not None and (not value or any(w < 0 for w in value.values()) or sum(value.values()) <= 0):
            raise ValueError("class weights must be non-negative with a positive sum")
        return value


# --------------------------------------------------------------------------- augment
class AugmentOp(Section):
    p: float = Field(0.0, ge=0.0, le=1.0)  # probability the op is applied to an image
    magnitude: float = Field(0.0, ge=0.0)  # op-specific strength; ranges checked in genqc.augment


class AugmentParams(Section):
    copies: int = Field(1, ge=0, le=64)  # augmented versions per original; 0 keeps the originals only
    ops: dict[str, AugmentOp] = {
        "rotate": AugmentOp(p=0.5, magnitude=10.0),  # degrees; digits stay legible under small rotations
        "translate": AugmentOp(p=0.5, magnitude=0.1),  # fraction of the side
        "brightness": AugmentOp(p=0.3, magnitude=0.2),
        "contrast": AugmentOp(p=0.3, magnitude=0.2),
    }


# --------------------------------------------------------------------------- classifier
class ClassifierParams(Section):
    epochs: int = Field(8, ge=1, le=1000)  # 8 epochs reach >97% on the mnist5k split on 2 CPU cores
    batch_size: int = Field(128, ge=1, le=65536)
    lr: float = Field(2e-3, gt=0, le=1)
    width: int = Field(32, ge=4, le=1024)  # channels of the first conv block
    weight_decay: float = Field(1e-4, ge=0)
    device: Device = "auto"


# --------------------------------------------------------------------------- train
class DCGANParams(Section):
    latent_dim: int = Field(64, ge=1, le=4096)
    width: int = Field(64, ge=4, le=4096)
    loss: Literal["non_saturating", "hinge"] = "non_saturating"
    spectral_norm: bool = True  # stabilises the discriminator; cheap on small nets
    r1_gamma: float = Field(0.0, ge=0)  # R1 penalty weight on real data; 0 disables it
    diffaugment: str = ""  # comma list of translation,cutout,color applied to real and fake; "" disables
    lr_d: float | None = Field(None, gt=0)  # discriminator lr; None uses train.lr


class VAEParams(Section):
    latent_dim: int = Field(16, ge=1, le=4096)
    width: int = Field(32, ge=4, le=4096)
    likelihood: Literal["gaussian", "bernoulli"] = "bernoulli"  # bernoulli suits near-binary digit images
    beta: float = Field(1.0, ge=0)  # weight of the KL term


class DDPMParams(Section):
    width: int = Field(32, ge=4, le=4096)
    timesteps: int = Field(1000, ge=2, le=100000)
    schedule: Literal["cosine", "linear"] = "cosine"
    sampler: Literal["ddim", "ancestral"] = "ddim"
    sample_steps: int = Field(50, ge=1, le=100000)  # DDIM steps; ancestral uses all timesteps
    eta: float = Field(0.0, ge=0, le=1)  # DDIM stochasticity; 0 is deterministic


class TrainParams(Section):
    model: Literal["dcgan", "vae", "ddpm"] = "dcgan"
    steps: int = Field(2000, ge=1)
    batch_size: int = Field(64, ge=1, le=65536)
    lr: float = Field(2e-4, gt=0, le=1)
    device: Device = "auto"
    conditional: bool = False
    ema_decay: float = Field(0.999, ge=0, lt=1)  # 0 disables EMA
    weight_decay: float = Field(0.0, ge=0)
    l1: float = Field(0.0, ge=0)
    grad_clip: float = Field(0.0, ge=0)  # max grad norm; 0 disables clipping
    checkpoint_every: int = Field(500, ge=1)
    image_every: int = Field(500, ge=1)
    log_every: int = Field(10, ge=1)
    nproc: int = Field(1, ge=1, le=1024)
    compile: bool = False
    bf16: bool = True  # autocast to bfloat16 on CUDA only; CPU stays fp32
    deterministic: bool = True
    dcgan: DCGANParams = DCGANParams()
    vae: VAEParams = VAEParams()
    ddpm: DDPMParams = DDPMParams()


# --------------------------------------------------------------------------- sample
class SampleFilter(Section):
    kind: Literal["none", "realism", "confidence"] = "none"
    threshold: float = 0.0


class SampleParams(Section):
    n: int = Field(1000, ge=1)
    batch_size: int = Field(250, ge=1)
    use_ema: bool = True
    ensemble: list[str] = []  # extra checkpoint paths sampled as a mixture
    filter: SampleFilter = SampleFilter()
    device: Device = "auto"


# --------------------------------------------------------------------------- evaluate
class EvaluateParams(Section):
    extractors: list[Literal["classifier", "effnet_lite0", "inception"]] = ["classifier", "effnet_lite0"]
    bootstrap: int = Field(100, ge=0, le=100000)  # resamples per interval; 0 disables intervals
    ci_level: float = Field(0.95, gt=0, lt=1)
    kid_subsets: int = Field(100, ge=1)
    kid_subset_size: int = Field(1000, ge=2)
    k_prc: int = Field(3, ge=1)
    k_dc: int = Field(5, ge=1)
    batch_size: int = Field(256, ge=1)
    device: Device = "auto"
    inception_weights: str | None = None  # path to pt_inception-2015-12-05 weights; required for 'inception'
    max_train: int = Field(10000, ge=1)  # train images used for memorisation and the train/test floor


# --------------------------------------------------------------------------- gates
class GatesParams(Section):
    fail: bool = True  # false: verdicts are recorded but the stage exits 0
    max_fd_classifier: float | None = Field(None, ge=0)
    min_precision: float | None = Field(None, ge=0, le=1)
    min_recall: float | None = Field(None, ge=0, le=1)
    min_coverage: float | None = Field(None, ge=0, le=1)
    max_near_copy_share: float | None = Field(None, ge=0, le=1)
    max_class_kl: float | None = Field(None, ge=0)


# --------------------------------------------------------------------------- orchestration
class PrefectParams(Section):
    retry_stages: list[str] = ["train", "sample"]
    retries: int = Field(2, ge=0, le=100)
    retry_delay_s: float = Field(10.0, ge=0)


class Params(Section):
    seed: int = Field(0, ge=0, le=2**31 - 1)
    ingest: IngestParams = IngestParams()
    validate_: ValidateParams = Field(ValidateParams(), alias="validate")
    augment: AugmentParams = AugmentParams()
    classifier: ClassifierParams = ClassifierParams()
    train: TrainParams = TrainParams()
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


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: ``params.yaml: train.lr=-1: Input should be greater than 0``."""
    lines = []
    for error in exc.errors():
        location = tuple(str(p) for p in error["loc"])
        key = ".".join(location) or "(top level)"
        value = error.get("input")
        if error["type"] == "extra_forbidden":
            allowed = _allowed_keys(Params, location[:-1])
            lines.append(f"{source}: unknown key {key!r}; allowed here: {', '.join(allowed)}")
        else:
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {key}={value!r}: {message}")
    return "\n".join(lines)


def parse_params(data: Any, source: str = "params") -> Params:
    """Validate a params mapping; raise ConfigError with one line per problem."""
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate a params file; missing file or bad YAML are config errors too."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"params file {path} not found; run from the repository root or pass --params FILE")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return parse_params(data, str(path))
