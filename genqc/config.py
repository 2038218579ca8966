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
    source: str = "builtin:mnist5k"  # builtin:mnist5k|digits|shapes, idx:DIR, folder:DIR, npz:FILE, parquet:FILE
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
            raise ValueError(f"attribute_weights names {unknown}, which are not in validate.attributes "
                             f"{self.attributes}; add them there or remove their weights")  # fmt: skip
        if len(set(self.attributes)) != len(self.attributes):
            raise ValueError(f"attributes lists a column twice: {self.attributes}")
        if self.class_weights and self.expected_labels is not None and set(self.class_weights) != set(
            self.expected_labels
        ):
            raise ValueError(f"class_weights keys {sorted(self.class_weights)} differ from expected_labels "
                             f"{sorted(self.expected_labels)}; give the same labels in both or drop one")  # fmt: skip
        if self.blank_max_mean >= self.saturated_min_mean:
            raise ValueError(f"blank_max_mean={self.blank_max_mean} must be below "
                             f"saturated_min_mean={self.saturated_min_mean}")  # fmt: skip
        return self


# --------------------------------------------------------------------------- augment
class AugmentOp(Section):
    p: float = Field(0.0, ge=0.0, le=1.0)  # probability the op is applied to an image
    magnitude: float = 0.0  # op-specific strength; each op's allowed range lives in genqc.augment.OPS


class AugmentParams(Section):
    """Ops not listed are off. Defaults are label-preserving for digits: no flips (a flipped 2 is not a 2)."""

    copies: int = Field(1, ge=0, le=64)  # augmented versions per original; 1 doubles the data, cheap to train on
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
class ClassifierParams(Section):
    epochs: int = Field(8, ge=1, le=1000)  # 8 epochs reach ~98.9% test accuracy on the mnist5k split (1 min, 2 cores)
    batch_size: int = Field(128, ge=1, le=65536)  # 32 steps per epoch on 4000 images; BatchNorm likes >= 64
    lr: float = Field(2e-3, gt=0, le=1)  # peak of AdamW's one-cycle schedule; robust for this small BN net
    width: int = Field(32, ge=4, le=1024)  # channels of the first conv block; features are 4x this (128)
    weight_decay: float = Field(1e-4, ge=0)  # light AdamW decay; dropout does most of the regularising
    device: Device = "auto"  # auto: CUDA when present
    # budget: 1500 steps is ~3.4 epochs of Fashion-MNIST's 56k train images (~0.9 accuracy, ~3 min on 2 cores);
    # mnist5k's 8 epochs are 256 steps, so the default run is unchanged. The one-cycle schedule fits the budget.
    max_steps: int | None = Field(1500, ge=1)
    max_seconds: float | None = Field(None, gt=0)  # wall-clock cap; off: a time stop differs between machines
    target_accuracy: float | None = Field(None, gt=0, le=1)  # stop at this accuracy on a held-out part of TRAIN
    val_fraction: float = Field(0.1, gt=0, lt=1)  # train share held out for target_accuracy (only when it is set)
    eval_every: int = Field(100, ge=1)  # steps between held-out accuracy checks for target_accuracy
    # below it the stage prints a WARNING and records evaluator_ok: false; 0.8 sits under mnist5k (0.99) and
    # Fashion-MNIST (~0.9) and far above a broken run (0.06 seen); no better than a constant guess exits 1
    min_accuracy: float = Field(0.8, ge=0, le=1)


# --------------------------------------------------------------------------- train
DIFFAUGMENT_OPS = ("translation", "cutout", "color")  # the ops genqc.augment.diff_augment applies


class DCGANParams(Section):
    """train.dcgan: the fields of genqc.models.dcgan.DCGANConfig (minus the shape fields filled from ingest)."""

    latent_dim: int = Field(64, ge=1, le=4096)  # enough for 10 digit classes and their styles
    width: int = Field(32, ge=4, le=4096)  # channels of the outermost conv layers; 32: G+D ~0.46M params (CPU-sized)
    loss: Literal["non_saturating", "hinge"] = "non_saturating"  # the DCGAN paper's loss; hinge as in SNGAN
    spectral_norm: bool = False  # false: BatchNorm in D (the paper); SN collapsed to one digit in our mnist5k runs
    r1_gamma: float = Field(0.0, ge=0)  # R1 penalty weight on real data; 0 disables it (SN usually suffices)
    diffaugment: str = ""  # comma list of translation,cutout,color applied to real and fake; "" disables
    lr_d: float | None = Field(None, gt=0)  # discriminator lr; None uses train.lr
    minibatch_std: bool = True  # D sees the batch's feature spread (Karras et al., 2018): counters mode collapse

    @field_validator("diffaugment")
    @classmethod
    def _known_ops(cls, value: str) -> str:
        unknown = [op.strip() for op in value.split(",") if op.strip() and op.strip() not in DIFFAUGMENT_OPS]
        if unknown:
            raise ValueError(f"unknown DiffAugment op(s) {', '.join(unknown)}; allowed: {', '.join(DIFFAUGMENT_OPS)}"
                             " (comma-separated) or '' to disable")  # fmt: skip
        return value


class VAEParams(Section):
    """train.vae: the fields of genqc.models.vae.VAEConfig (minus the shape fields filled from ingest)."""

    latent_dim: int = Field(16, ge=1, le=4096)  # digits need few factors; more leaves dimensions unused
    width: int = Field(32, ge=4, le=4096)  # channels of the outermost conv layers; 32 keeps the VAE ~0.43M params
    likelihood: Literal["gaussian", "bernoulli"] = "bernoulli"  # bernoulli suits near-binary digit images
    beta: float = Field(1.0, ge=0)  # weight of the KL term; 1 is the evidence lower bound
    lr: float | None = Field(1e-3, gt=0, le=1)  # Adam lr with betas (0.9, 0.999); None uses train.lr/betas


class DDPMParams(Section):
    """train.ddpm: the fields of genqc.models.ddpm.DDPMConfig (minus the shape fields filled from ingest)."""

    width: int = Field(16, ge=4, le=4096)  # U-Net base channels: 0.21M params, CPU-sized; 32-64 on a GPU
    timesteps: int = Field(1000, ge=2, le=100000)  # diffusion steps T of Ho et al.; DDIM samples with far fewer
    schedule: Literal["cosine", "linear"] = "cosine"  # cosine wastes fewer steps on small images
    sampler: Literal["ddim", "ancestral"] = "ddim"  # ddim: sample_steps network calls instead of timesteps
    sample_steps: int = Field(50, ge=1, le=100000)  # DDIM steps; ancestral uses all timesteps
    eta: float = Field(1.0, ge=0, le=1)  # DDIM stochasticity; 1 gave clean strokes where 0 gave noisy blobs (CPU nets)
    min_snr_gamma: float = Field(5.0, ge=0)  # Min-SNR loss weight min(SNR, g)/SNR; 0: plain epsilon loss
    lr: float | None = Field(1e-3, gt=0, le=1)  # Adam lr with betas (0.9, 0.999); None uses train.lr/betas


class TrainParams(Section):
    model: Literal["dcgan", "vae", "ddpm"] = "dcgan"  # `genqc train --model X` overrides it
    # the families dvc.yaml's matrix trains, samples and evaluates; train.model is the primary one whose
    # metrics land in reports/metrics.json, so it must be listed here
    # dvc.yaml's matrix; ddpm is left out by default: ~5 min of training on 2 CPU cores (best samples)
    models: list[Literal["dcgan", "vae", "ddpm"]] = Field(["dcgan", "vae"], min_length=1)
    steps: int = Field(2000, ge=1)  # 2 idle CPU cores, batch 32: dcgan ~2 min, vae ~1 min, ddpm ~5 min; digits
    batch_size: int = Field(32, ge=1, le=65536)  # the GLOBAL batch, split evenly over train.nproc; 32: CPU-sized
    lr: float = Field(2e-4, gt=0, le=1)  # AdamW learning rate of every group (a family may override one group)
    betas: tuple[float, float] = (0.5, 0.999)  # AdamW betas; beta1=0.5: the DCGAN recipe (GANs need it most)
    device: Device = "auto"  # auto: CUDA when present; cuda on a machine without it is a config error
    conditional: bool = False  # true: class-conditional model (num_classes from the labels)
    ema_decay: float = Field(0.999, ge=0, lt=1)  # EMA of the sampling module's weights; 0 disables EMA
    ema_warmup: bool = True  # decay min(ema_decay, (1+n)/(10+n)): short CPU runs do not sample the init
    weight_decay: float = Field(0.0, ge=0)  # AdamW's decoupled weight decay; 0: the families need none on mnist
    l1: float = Field(0.0, ge=0)  # L1 penalty on weight matrices/kernels (not biases); 0 disables it
    grad_clip: float = Field(0.0, ge=0)  # max global grad norm per group; 0 disables clipping (the norm is logged)
    checkpoint_every: int = Field(100, ge=1)  # steps between last.pt writes (and at the end); a crash loses less
    image_every: int = Field(250, ge=1)  # steps between sample grids in reports/train/<family>/ (and at the end)
    grid_size: int = Field(64, ge=1, le=1024)  # EMA samples in each grid (8x8); a DDPM grid costs sample_steps passes
    log_every: int = Field(10, ge=1)  # steps between DVCLive rows (losses, grad norms, images/s, lr)
    nproc: int = Field(1, ge=1, le=1024)  # >1: the stage relaunches itself under torchrun (DDP, one per GPU)
    compile: bool = False  # torch.compile each sub-network; pays off on long CUDA runs only
    bf16: bool = True  # autocast to bfloat16 on CUDA only; CPU stays fp32
    deterministic: bool = True  # deterministic kernels: a resumed run ends with bit-identical weights
    resume: bool = True  # continue from data/train/<family>/last.pt; false starts over and overwrites it
    dcgan: DCGANParams = DCGANParams()
    vae: VAEParams = VAEParams()
    ddpm: DDPMParams = DDPMParams()

    @model_validator(mode="after")
    def _primary_is_trained(self) -> TrainParams:
        if self.model not in self.models:
            raise ValueError(f"train.model={self.model!r} is not in train.models={self.models}; "
                             "add it to train.models (the families dvc.yaml trains) or pick one of them")  # fmt: skip
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"train.models={self.models} lists a family twice; list each once")
        return self


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
            raise ValueError(f"sample.filter.threshold={self.threshold} is a probability for kind 'confidence'; "
                             "use a value in [0, 1]")  # fmt: skip
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

    @model_validator(mode="after")
    def _weights_match(self) -> SampleParams:
        if self.weights:
            if len(self.weights) != 1 + len(self.ensemble):
                raise ValueError(f"sample.weights has {len(self.weights)} entries but there are "
                                 f"{1 + len(self.ensemble)} models (train.model + {len(self.ensemble)} in "
                                 "sample.ensemble); give one weight each or [] for equal shares")  # fmt: skip
            if any(w < 0 for w in self.weights) or sum(self.weights) <= 0:
                raise ValueError(f"sample.weights={self.weights} must be non-negative with a positive sum")
        return self


# --------------------------------------------------------------------------- evaluate
class EvaluateParams(Section):
    # feature spaces every distance is computed in; each metric key ends with the extractor's name
    extractors: list[Literal["classifier", "effnet_lite0", "inception"]] = Field(["classifier", "effnet_lite0"],
                                                                                 min_length=1)  # fmt: skip
    bootstrap: int = Field(100, ge=0, le=100000)  # resamples per interval; 0 disables intervals
    ci_level: float = Field(0.95, gt=0, lt=1)
    kid_subsets: int = Field(100, ge=1)  # KID's seeded subsets (the convention: 100 x min(1000, n))
    kid_subset_size: int = Field(1000, ge=2)  # capped at the smaller set's size
    k_prc: int = Field(3, ge=1)  # neighbours for precision/recall (Kynkaanniemi et al.)
    k_dc: int = Field(5, ge=1)  # neighbours for density/coverage (Naeem et al.)
    batch_size: int = Field(256, ge=1)  # images per extractor forward pass; never changes the features
    device: Device = "auto"
    inception_weights: str | None = None  # path to pt_inception-2015-12-05 weights; required for 'inception'
    max_train: int = Field(10000, ge=1)  # train images (seeded subset) for memorisation and the train/test floor
    nearest: int = Field(16, ge=0, le=10000)  # closest sample/train pairs kept for the report
    classifier: bool = True  # false: skip the classifier's IS, class balance and memorisation (no checkpoint needed)


# --------------------------------------------------------------------------- gates
class GatesParams(Section):
    """Quality gates on metrics.json keys: each ``max`` key must stay <= its limit, each ``min`` key >= it."""

    fail: bool = True  # false: verdicts are recorded in metrics.json but the stage exits 0
    # true: judge the interval's pessimistic end (ci_high for max, ci_low for min) so that a pass is certain
    # at ci_level; false: judge the point estimate
    conservative: bool = False
    # defaults: decent mnist5k models pass with margin, broken ones (noise, collapse, copies) fail; see README
    max: dict[str, float] = {
        "fd_classifier_ratio": 250.0,  # sanity floor measured on mnist5k (params.yaml says how); noise >> 250
        "class_kl": 0.3,  # KL(generated classes || train classes), nats: mode collapse and class bias
        "memorization_near_copy_share": 0.05,  # closer to a train image than half its nearest train neighbour
        "exact_copy_share": 0.0,  # pixel-identical copies of training images
    }
    min: dict[str, float] = {
        "precision_classifier": 0.3,  # noise and garbage land outside the real manifold
        "recall_classifier": 0.1,
        "coverage_classifier": 0.15,  # collapse to one of K classes covers ~1/K of real neighbourhoods
        "modes_covered_share": 0.9,  # share of classes the classifier finds among the samples
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
    seed: int = Field(0, ge=0, le=2**31 - 1)
    threads: int | None = Field(None, ge=1, le=4096)  # torch/BLAS threads per stage; None: the cores available
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
