"""Run specs: one (backbone, sources, method, target, fraction, seed, budget); the content hash is the id."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from harness.errors import ConfigError
from harness.registry import did_you_mean

SPEC_VERSION = 1
ADDED_FIELDS = (
    "task_set",
    "max_train_samples",
    "max_eval_samples",
    "max_test_samples",
    "fraction_tasks",
    "max_train_samples_per_task",
)  # fields added after version 1
# how a fraction and a training cap combine (`RunSplits.run_rows`): part of the identity of
# every spec that has both, so records made under the older rule (cap after the fraction,
# which let 25 % of a large split fill the cap like 100 %) are never taken for new ones
CAPPED_FRACTION_RULE = "fraction of the capped rows"
ADDED_BUDGET_FIELDS = {"gradient_checkpointing": False}  # budget fields added later: default
# settings added to a built-in method later, at their defaults (a spec without them is the same)
ADDED_METHOD_FIELDS = {
    "feature_extraction": {"layer": 0, "layers": ""},
    "finetune": {"copy_layers": ""},
    "distill": {"teacher_sources": []},
}


def canonical_spec(d: dict[str, Any]) -> dict[str, Any]:
    """A spec dict as ids and comparisons see it: fields (and budget fields) added after
    version 1 and left at their defaults are dropped, so older specs keep their identity."""
    d = dict(d)
    for key in ADDED_FIELDS:
        if not d.get(key):
            d.pop(key, None)
    added = ADDED_METHOD_FIELDS.get(d.get("method"), {})
    if added and isinstance(d.get("method_config"), dict):
        d["method_config"] = {
            k: v for k, v in d["method_config"].items() if added.get(k, object()) != v
        }
    for key in ("budget", "source_budget"):
        if isinstance(d.get(key), dict):
            d[key] = {k: v for k, v in d[key].items() if ADDED_BUDGET_FIELDS.get(k, object()) != v}
    if (d.get("fraction") or 1.0) < 1.0 and (
        d.get("max_train_samples") or d.get("max_train_samples_per_task")
    ):
        # a fraction under a training cap is now a fraction of the capped rows, where it was
        # capped after: such a spec names other rows than before, so it gets another id
        d["train_rows"] = CAPPED_FRACTION_RULE
    return d


@dataclass(frozen=True)
class Budget:
    """How long and how a model is trained (Hugging Face `TrainingArguments` names)."""

    num_train_epochs: float = 3.0
    max_steps: int = -1
    per_device_train_batch_size: int = 32
    per_device_eval_batch_size: int = 128
    learning_rate: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    lr_scheduler_type: str = "linear"
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 1.0
    group_by_length: bool = True
    gradient_checkpointing: bool = False  # recompute activations in the backward pass: less memory

    def __post_init__(self) -> None:
        """Values outside their domain are errors naming the field (checked at suite expansion)."""
        from transformers import SchedulerType

        def bad(name: str, want: str) -> None:
            raise ValueError(f"field '{name}': must be {want}, got {getattr(self, name)!r}")

        if not (math.isfinite(self.num_train_epochs) and self.num_train_epochs > 0):
            bad("num_train_epochs", "a number > 0")
        if self.max_steps != -1 and self.max_steps < 1:
            bad("max_steps", "a whole number >= 1 (or -1: train by epochs)")
        for name in (
            "per_device_train_batch_size",
            "per_device_eval_batch_size",
            "gradient_accumulation_steps",
        ):
            if getattr(self, name) < 1:
                bad(name, "a whole number >= 1")
        if not (math.isfinite(self.learning_rate) and self.learning_rate > 0):
            bad("learning_rate", "a number > 0")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            bad("weight_decay", "a number >= 0")
        if not 0 <= self.warmup_ratio <= 1:
            bad("warmup_ratio", "a fraction between 0 and 1")
        if not (math.isfinite(self.max_grad_norm) and self.max_grad_norm >= 0):
            bad("max_grad_norm", "a number >= 0 (0: no clipping)")
        kinds = [k.value for k in SchedulerType]
        if self.lr_scheduler_type not in kinds:
            bad("lr_scheduler_type", f"one of {', '.join(kinds)}")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, where: str = "budget") -> Budget:
        return dataclass_from_dict(cls, values or {}, where)


def dataclass_from_dict(cls: type, values: dict[str, Any], where: str) -> Any:
    """Build a config dataclass, naming unknown keys (with a suggestion) and wrong types."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where}: expected a mapping of settings, got {values!r}")
    known = {f.name: f for f in fields(cls)}
    unknown = [k for k in values if k not in known]
    if unknown:
        k = unknown[0]
        raise ConfigError(
            f"{where}: unknown setting '{k}'.{did_you_mean(k, sorted(known))} Known: {', '.join(sorted(known))}"
        )
    kwargs = {}
    for k, v in values.items():
        default = getattr(cls(), k) if _has_defaults(cls) else None
        kwargs[k] = _coerce(v, default, f"{where}.{k}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _has_defaults(cls: type) -> bool:
    try:
        cls()
        return True
    except TypeError:
        return False


def _coerce(value: Any, default: Any, where: str) -> Any:
    """Coerce strings from the command line (and ints for floats) to the default's type."""
    if default is None or value is None:
        return value
    kind = type(default)
    try:
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError
            return bool(value)
        if kind in (int, float):
            if isinstance(value, bool):
                raise ValueError
            out = kind(value)
            if kind is int and float(value) != out:
                raise ValueError
            return out
        if kind is str:
            return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: expected {kind.__name__}, got {value!r}") from None
    return value


@dataclass(frozen=True)
class RunSpec:
    """Everything that determines one run's result. Two specs with the same id are the same run."""

    backbone: dict[str, Any]
    sources: tuple[str, ...]
    method: str  # registered method name
    variant: str  # the suite's name for this method + settings (what leaderboards show)
    method_config: dict[str, Any]
    target: str
    fraction: float
    seed: int
    budget: dict[str, Any]
    source_budget: dict[str, Any]
    source_seed: int = 0
    limit: int | None = None
    task_versions: dict[str, str] = field(default_factory=dict)  # card content hashes
    task_set: tuple[str, ...] = ()  # what a multi-task method trains on before the target
    max_train_samples: int | None = None  # cap on every training split (seeded, stratified)
    max_eval_samples: int | None = None  # cap on validation splits (model selection only)
    max_test_samples: int | None = None  # cap on the scored split (a fixed stratified sample)
    # task-set tasks that are targets of the suite: in the multi-task phase they get the rows a
    # single-task run at this fraction and seed trains on, never more
    fraction_tasks: tuple[str, ...] = ()
    # training caps for named tasks, over max_train_samples (a large task beside small ones)
    max_train_samples_per_task: dict[str, int] = field(default_factory=dict)

    def train_cap(self, task: str) -> int | None:
        """The training-row cap of `task`: its own, else `max_train_samples`."""
        return self.max_train_samples_per_task.get(task, self.max_train_samples)

    # --- identity: every key and label of a run comes from here -----------------------------

    def key(self, *, seed: bool = True, task_versions: bool = True) -> str:
        """The content hash of the spec: with everything, the run's `id`; without the seed, its
        group (the seeds of one setting, which `compare` and `history` judge together); without
        task versions, its cell in a suite's grid (a submission checks stale cards apart)."""
        d = canonical_spec(self.to_dict())  # added fields left unset keep older ids
        if not task_versions:
            d["task_versions"] = {}
        if not seed:
            d.pop("seed")
        return content_hash({"v": SPEC_VERSION, **d}, 20)

    @property
    def id(self) -> str:
        return self.key()

    @property
    def group_key(self) -> str:
        """The key of the run's setting without its seed (`key(seed=False)`)."""
        return self.key(seed=False)

    @property
    def source_label(self) -> str:
        """What the run started from: its task set (`{a,b}`), its sources (`a+b`), or `none`."""
        if self.task_set:
            return "{" + ",".join(self.task_set) + "}"
        return "+".join(self.sources) if self.sources else "none"

    def label(self) -> dict[str, Any]:
        """The run's setting as people read it (what tables and messages show)."""
        return {
            "backbone": self.backbone["name"],
            "variant": self.variant,
            "source": self.source_label,
            "target": self.target,
            "fraction": float(self.fraction),
        }

    def describe(self, seed: bool = True) -> str:
        """`variant | source -> target | frac f | seed s | backbone`, for logs and messages."""
        return describe_label(self.label(), self.seed if seed else None)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["sources"] = list(self.sources)
        d["task_set"] = list(self.task_set)
        d["fraction_tasks"] = list(self.fraction_tasks)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunSpec:
        d = dict(d)
        d["sources"] = tuple(d.get("sources") or ())
        d["task_set"] = tuple(d.get("task_set") or ())
        d["fraction_tasks"] = tuple(d.get("fraction_tasks") or ())
        d["max_train_samples_per_task"] = dict(d.get("max_train_samples_per_task") or {})
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


def content_hash(obj: Any, digits: int = 16) -> str:
    """The hex SHA-256 of `obj` as canonical JSON (sorted keys), cut to `digits`."""
    blob = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:digits]


def spec_of(d: dict[str, Any]) -> RunSpec:
    """The RunSpec of a record's spec (a dict), with the fields older records lack at their
    defaults; raises ValueError naming what does not read."""
    try:
        return RunSpec.from_dict(
            {"method_config": {}, "budget": {}, "source_budget": {}, "sources": (), **d}
        )
    except TypeError as exc:
        raise ValueError(f"not a run spec: {exc}") from exc


def describe_label(label: dict[str, Any], seed: int | None = None) -> str:
    """A run's label (`RunSpec.label`) as one line; with the seed when given."""
    seed_part = f" | seed {seed}" if seed is not None else ""
    return (
        f"{label['variant']} | {label['source']} -> {label['target']} | "
        f"frac {label['fraction']:g}{seed_part} | {label['backbone']}"
    )
