"""Similarity measures for any registered tasks, their matrices and pictures, and — given the
results of a transfer suite — how well each measure predicts the gain (`write_similarity`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from harness.analysis.correlation import truth_readable
from harness.errors import ConfigError
from harness.similarity.outputs import (
    correlation_view,
    markdown,
    report_failures,
    write_covariances,
    write_gain_pictures,
    write_matrices,
    write_task_pictures,
    write_when_to_transfer,
)

if TYPE_CHECKING:
    from harness.taskregistry import TaskRegistry

Echo = Callable[[str], None]
CAPS = ("max_train_samples", "max_eval_samples", "max_test_samples")


@dataclasses.dataclass
class SimilarityRequest:
    """What `write_similarity` computes: the flags of `transferbench similarity`."""

    tasks: list[str] = dataclasses.field(default_factory=list)  # empty: the suite's
    measures: list[str] | None = None  # None: every measure
    results: str | Path | None = None  # a transfer suite's results folder
    backbone: str | None = None
    method: str = "finetune"
    output_dir: str | Path | None = None  # default: <results>/similarity
    source_epochs: float | None = None
    max_rows: int | None = 1000
    limit: int | None = None
    max_train_samples: int | None = None
    n_boot: int = 1000
    include_paths: list[str] = dataclasses.field(default_factory=list)
    data_dir: str | None = None
    cache_dir: str | None = None


def suite_config(results: Path) -> dict[str, Any]:
    """The config.yaml `transferbench run` wrote in `results`."""
    path = results / "config.yaml"
    if not path.exists():
        raise ConfigError(
            f"--results {results}: no config.yaml (not the output of `transferbench run`)"
        )
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a suite configuration")
    return data


def suite_tasks(config: dict[str, Any], where: str) -> list[str]:
    """A suite's sources and targets, in order, once each. A suite run with `--targets a,b`
    keeps that string in its config.yaml: it is a list of names, never the string's characters."""
    from harness.suites import as_list, parse_sources

    sources = [s for ss in parse_sources(config.get("sources", []), where) for s in ss]
    targets = as_list(config["targets"], str, where, "targets") if config.get("targets") else []
    return list(dict.fromkeys([*sources, *targets]))


def reference_backbone(
    name: str | None, config: dict[str, Any], modality: str, defaults: dict
) -> dict[str, Any]:
    """The backbone `name`, else the suite's backbone of `modality`, else the default one."""
    from harness.backbones import BackboneSpec, resolve_modality
    from harness.spec import dataclass_from_dict

    if name:
        value: Any = {"name": name}
    else:
        value = defaults[modality]
        for item in config.get("backbones") or []:  # the suite's backbone of this modality
            item = {"name": item} if isinstance(item, str) else dict(item)
            if resolve_modality(dataclass_from_dict(BackboneSpec, item, "backbone")) == modality:
                value = item
                break
    return dataclasses.asdict(dataclass_from_dict(BackboneSpec, dict(value), "backbone"))


def _grouped_tasks(
    request: SimilarityRequest, config: dict[str, Any], results: Path | None, registry: Any
) -> tuple[list[str], dict[str, list[str]]]:
    """The tasks to measure, and those tasks by modality (each checked)."""
    tasks = list(request.tasks)
    if not tasks and config:
        tasks = suite_tasks(config, f"{results}/config.yaml")
    if len(tasks) < 2:
        raise ConfigError(
            "--tasks: name at least two tasks (or give --results of a transfer suite)"
        )
    by_modality: dict[str, list[str]] = {}
    for t in tasks:
        by_modality.setdefault(registry.get(t).modality, []).append(t)
    if all(len(g) < 2 for g in by_modality.values()):
        raise ConfigError(f"--tasks: {tasks}: name at least two tasks of one modality")
    if request.backbone and len(by_modality) > 1:
        raise ConfigError(
            f"--backbone: the tasks {tasks} mix modalities; a backbone takes one (leave it out to use "
            "the suite's backbone of each modality)"
        )
    return tasks, by_modality


def _caps(request: SimilarityRequest, config: dict[str, Any]) -> dict[str, Any]:
    """The suite's split caps (so its caches are reused), and `max_train_samples` if asked."""
    caps: dict[str, Any] = {k: int(config[k]) for k in CAPS if config.get(k)}
    if config.get("max_train_samples_per_task"):
        caps["max_train_samples_per_task"] = {
            str(k): int(v) for k, v in sorted(config["max_train_samples_per_task"].items())
        }
    if request.max_rows is not None and request.max_rows < 2:
        raise ConfigError(f"--max_rows: expected a whole number >= 2, got {request.max_rows}")
    if request.max_train_samples:
        if request.max_train_samples < 1:
            raise ConfigError(
                f"--max_train_samples: expected a positive whole number, got {request.max_train_samples}"
            )
        caps["max_train_samples"] = request.max_train_samples
    return caps


def write_similarity(
    request: SimilarityRequest, registry: TaskRegistry | None = None, echo: Echo | None = None
) -> list[Path]:
    """Compute the measures for the tasks, write their matrices and pictures, the layer CKA
    of the task-trained encoders (and, given `results`, the correlation with the realised
    gain) to the output folder; the text of
    `transferbench similarity` goes to `echo`. Returns the files written."""
    from harness.folders import writable_folder
    from harness.records import load_records
    from harness.similarity.label_overlap import label_overlap_matrix
    from harness.similarity.registry import discover_measures
    from harness.spec import Budget
    from harness.taskregistry import TaskRegistry
    from harness.workspace import Workspace

    say = echo or (lambda _text: None)
    registry = registry or TaskRegistry(request.include_paths)
    measures = request.measures or None
    reg = discover_measures()
    for m in measures or []:
        reg.get(m)  # unknown names: an error with a suggestion
    results = Path(request.results) if request.results else None
    config = suite_config(results) if results else {}
    tasks, by_modality = _grouped_tasks(request, config, results, registry)
    source_budget = dict(config.get("budget") or {}) | dict(config.get("source_budget") or {})
    if request.source_epochs:
        source_budget["num_train_epochs"] = request.source_epochs
    budget = dataclasses.asdict(Budget.from_dict(source_budget, "source budget"))
    out = writable_folder(
        Path(request.output_dir)
        if request.output_dir
        else (results or Path("results")) / "similarity",
        "--output_dir",
    )
    workspace = Workspace(data_dir=request.data_dir, cache_dir=request.cache_dir, registry=registry)
    caps = _caps(request, config)
    records = load_records(results, strict=False)[0] if results else []
    frames, drawn = _computed(
        request, config, by_modality, workspace, budget, caps, measures, out, records, say
    )
    for name in measures or reg.names():  # measures read from the runs' records
        if reg.get(name).kind == "recorded":
            frame = reg.get(name).fn(records)
            frame = frame[frame["source"].isin(tasks) & frame["target"].isin(tasks)]
            if frame.empty:
                say(f"{name}: no run in {results or '(no --results)'} recorded it; skipped")
            else:
                frames[name] = frame
    written = drawn + write_matrices(frames, out)
    written.append(out / "label_overlap.csv")  # a card fact, read beside the divergences
    label_overlap_matrix(tasks, registry).to_csv(written[-1])
    say(f"{len(frames)} measure(s) on {len(tasks)} task(s) -> {out}")
    written += report_failures(frames, out, say)
    _write_truth(frames, tasks, registry, records, results, out, say)
    if results:
        written += _write_correlation(request, records, frames, registry, results, out, say)
    say(f"wrote {len(written)} file(s)")
    return written


def _computed(
    request: SimilarityRequest,
    config: dict[str, Any],
    by_modality: dict[str, list[str]],
    workspace: Any,
    budget: dict[str, Any],
    caps: dict[str, Any],
    measures: list[str] | None,
    out: Path,
    records: list,
    say: Echo,
) -> tuple[dict[str, pd.DataFrame], list[Path]]:
    """The computed measures' frames (one reference backbone per modality), the pictures of
    each modality's tasks, and the layer-by-layer CKA of each source → target pair (the suite's
    pairs given `records`) whose task-trained encoders the measures trained."""
    from harness.analysis.gains import pair_gains
    from harness.similarity.compute import SimilarityComputer, SimilaritySetup
    from harness.similarity.layer_cka import layer_cka_pairs
    from harness.similarity.layer_cka_outputs import write_layer_cka
    from harness.suites import DEFAULT_BACKBONES

    frames: dict[str, pd.DataFrame] = {}
    drawn: list[Path] = []
    pairs = None  # every ordered pair of a modality's tasks, or the suite's own pairs
    if records:
        ran = pair_gains(records)
        pairs = set(zip(ran["source"], ran["target"])) or None
    layer_cka, layer_skipped = [], []
    for modality, group in sorted(by_modality.items()):
        if len(group) < 2:
            continue
        setup = SimilaritySetup(
            backbone=reference_backbone(request.backbone, config, modality, DEFAULT_BACKBONES),
            source_budget=budget,
            source_seed=int(config.get("source_seed", 0) or 0),
            limit=request.limit or config.get("limit"),
            max_rows=request.max_rows,
            caps=caps,
        )
        computer = SimilarityComputer(workspace, setup)
        group_frames = computer.compute(group, measures)
        for name, frame in group_frames.items():
            frames[name] = pd.concat([frames[name], frame]) if name in frames else frame
        drawn += write_covariances(getattr(computer, "views", {}), out, modality)
        drawn += write_task_pictures(group_frames, out, modality)
        found, skipped = layer_cka_pairs(computer, group, pairs)
        layer_cka += found
        layer_skipped += skipped
    drawn += write_layer_cka(layer_cka, layer_skipped, out, say)
    return frames, drawn


def _write_truth(
    frames: dict[str, pd.DataFrame],
    tasks: list[str],
    registry: Any,
    records: list,
    results: Path | None,
    out: Path,
    say: Echo,
) -> None:
    """known_relatedness.csv: each measure against the synthetic families' known relatedness."""
    from harness.analysis.correlation import TOO_FEW_NOTE, rank_statistics
    from harness.analysis.gains import pair_gains
    from harness.similarity.truth import known_relatedness

    suite_pairs = None
    if results:  # the suite's own source -> target pairs
        ran = pair_gains(records)
        suite_pairs = set(zip(ran["source"], ran["target"])) or None
    truth = _truth_table(frames, tasks, registry, known_relatedness, rank_statistics, suite_pairs)
    if truth.empty:
        return
    truth.to_csv(out / "known_relatedness.csv", index=False)
    which = (
        "the suite's source → target pairs" if suite_pairs else "every ordered pair of the tasks"
    )
    say(
        f"\nagainst the known relatedness of synthetic families ({which}; τ per target first)\n"
        + markdown(truth_readable(truth))
    )
    if not truth["rankable"].all():
        say(TOO_FEW_NOTE)


def _write_correlation(
    request: SimilarityRequest,
    records: list,
    frames: dict[str, pd.DataFrame],
    registry: Any,
    results: Path,
    out: Path,
    say: Echo,
) -> list[Path]:
    """correlation.csv: per target family, each measure against the realised gain of the
    method; with the gain pictures and the when-to-transfer table."""
    from harness.analysis.correlation import (
        TOO_FEW_NOTE,
        ceiling_summary,
        correlation_table,
        family_ceiling,
        replicate_description,
    )
    from harness.analysis.gains import pair_gains

    method, n_boot = request.method, request.n_boot
    gains = pair_gains(records)
    gains = gains[gains["method"] == method]
    if gains.empty:
        say(f"no single-source {method} runs with a no-source partner in {results}: no correlation")
        return []
    scored = {m: f for m, f in frames.items() if f["score"].notna().any()}
    varies = replicate_description(records, method)  # which seeds the gains re-draw
    tables = []
    for family, targets in _families(gains["target"].unique(), registry).items():
        fam_gains = gains[gains["target"].isin(targets)]
        fam_scores = {m: f[f["target"].isin(targets)] for m, f in scored.items()}
        fam_scores = {m: f for m, f in fam_scores.items() if f["score"].notna().any()}
        table = correlation_table(fam_gains, fam_scores, n_boot=n_boot, n_perm=n_boot)
        table.insert(0, "family", family)
        table["ceiling_varies"] = varies
        tables.append(table)
        say(
            f"\n{family} targets: measures against the realised gain of {method} "
            f"(95 % bootstrap intervals; p: one-sided, the measure's scores shuffled among each target's sources)\n"
            + markdown(correlation_view(table))
        )
        if not table["rankable"].all():
            say(TOO_FEW_NOTE)
        ceiling = family_ceiling(table, fam_gains, n_boot=n_boot)
        say(ceiling_summary({**ceiling, "ceiling_varies": varies}))
    correlation = pd.concat(tables)
    correlation.to_csv(out / "correlation.csv", index=False)
    written = write_gain_pictures(gains, frames, out, method)
    return written + write_when_to_transfer(records, frames, correlation, out, say)


def _families(targets: Any, registry: Any) -> dict[str, list[str]]:
    """Targets grouped by family (modality / problem): which measure works is task-dependent."""
    out: dict[str, list[str]] = {}
    for t in sorted(targets):
        card = registry.get(t)
        out.setdefault(f"{card.modality}/{card.problem}", []).append(t)
    return out


def _truth_table(
    frames, tasks, registry, known_relatedness, rank_statistics, pairs=None
) -> pd.DataFrame:
    """Each measure's rank agreement with the generators' known relatedness (synthetic tasks):
    Kendall τ per target over its sources (the ranking a user needs), and over all pairs."""
    truth = {}
    for s in tasks:
        for t in tasks:
            if s != t and (pairs is None or (s, t) in pairs):
                k = known_relatedness(registry.get(s), registry.get(t))
                if k is not None:
                    truth[(s, t)] = k
    if not truth:
        return pd.DataFrame()
    from harness.analysis.correlation import min_p, rankable

    rows = []
    for name, frame in frames.items():
        f = frame[[(s, t) in truth for s, t in zip(frame["source"], frame["target"])]].copy()
        f["gain"] = [truth[(s, t)] for s, t in zip(f["source"], f["target"])]
        f = f.dropna(subset=["score"])
        if len(f) >= 2:
            st = rank_statistics(f)
            least = min_p(f.groupby("target").size())  # as in correlation.csv: too few to rank?
            rows.append(
                {
                    "measure": name,
                    "pairs": len(f),
                    "targets": f["target"].nunique(),
                    "min_p": least,
                    "rankable": rankable(least),
                    "per_target_tau": st["per_target_tau"],
                    "kendall_tau": st["kendall_tau"],
                    "top1": st["top1"],
                }
            )
    if not rows:
        return pd.DataFrame()
    table = pd.DataFrame(rows)
    return table.sort_values(
        ["rankable", "per_target_tau"], ascending=False, na_position="last", kind="stable"
    ).reset_index(drop=True)
