"""`transferbench similarity`: measures for any registered tasks, their matrices and pictures,
and — given the results of a transfer suite — how well each measure predicts the gain."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from harness.analysis.correlation import truth_readable
from harness.errors import ConfigError


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "similarity", help="task similarity measures, their pictures and correlation with gain"
    )
    p.add_argument(
        "--tasks",
        help="comma-separated tasks (default with --results: the suite's sources and targets)",
    )
    p.add_argument(
        "--measures",
        help="comma-separated measures (default: all; see `transferbench list measures`)",
    )
    p.add_argument(
        "--results",
        help="a transfer suite's results: its backbone and source budget are used "
        "(cached sources reused) and each measure is set against the realised gain",
    )
    p.add_argument(
        "--backbone",
        help="the reference backbone (default: the suite's, else bert-tiny / resnet-tiny)",
    )
    p.add_argument(
        "--method", default="finetune", help="whose gains the measures are compared with"
    )
    p.add_argument(
        "--output_dir", help="where matrices and pictures go (default: <results>/similarity)"
    )
    p.add_argument(
        "--source_epochs", type=float, help="epochs to train each source (without --results)"
    )
    p.add_argument("--max_rows", type=int, default=1000, help="rows per task the measures see")
    p.add_argument("--limit", type=int, help="cap every split (quick checks)")
    p.add_argument(
        "--max_train_samples",
        type=int,
        help="train each task on (and measure) a seeded sample of this many rows (default: the suite's)",
    )
    p.add_argument("--n_boot", type=int, default=1000, help="bootstrap resamples for the intervals")
    p.add_argument("--include_path", action="append", default=[], help="extra folder of task cards")
    p.add_argument("--data_dir", help="local data folder(s)")
    p.add_argument("--cache_dir", help="the cache the runs use")
    p.set_defaults(func=cmd_similarity)


CAPS = ("max_train_samples", "max_eval_samples", "max_test_samples")


def _suite_config(results: Path) -> dict[str, Any]:
    path = results / "config.yaml"
    if not path.exists():
        raise ConfigError(
            f"--results {results}: no config.yaml (not the output of `transferbench run`)"
        )
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a suite configuration")
    return data


def cmd_similarity(args: argparse.Namespace) -> int:
    from harness.analysis.correlation import (
        TOO_FEW_NOTE,
        ceiling_summary,
        correlation_table,
        family_ceiling,
        rank_statistics,
        replicate_description,
    )
    from harness.analysis.gains import pair_gains
    from harness.cli_args import writable_folder
    from harness.records import load_records
    from harness.runner import SuiteRunner
    from harness.similarity.compute import SimilarityComputer, SimilaritySetup
    from harness.similarity.registry import discover_measures
    from harness.similarity.truth import known_relatedness
    from harness.spec import Budget
    from harness.suites import DEFAULT_BACKBONES
    from harness.taskregistry import TaskRegistry

    if args.data_dir:
        os.environ["TRANSFERBENCH_DATA_DIR"] = args.data_dir
    registry = getattr(args, "registry", None) or TaskRegistry(args.include_path)
    measures = [m.strip() for m in (args.measures or "").split(",") if m.strip()] or None
    reg = discover_measures()
    for m in measures or []:
        reg.get(m)  # unknown names: an error with a suggestion
    results = Path(args.results) if args.results else None
    config = _suite_config(results) if results else {}
    tasks = [t.strip() for t in (args.tasks or "").split(",") if t.strip()]
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
    if args.backbone and len(by_modality) > 1:
        raise ConfigError(
            f"--backbone: the tasks {tasks} mix modalities; a backbone takes one (leave it out to use "
            "the suite's backbone of each modality)"
        )
    source_budget = dict(config.get("budget") or {}) | dict(config.get("source_budget") or {})
    if args.source_epochs:
        source_budget["num_train_epochs"] = args.source_epochs
    budget = dataclasses.asdict(Budget.from_dict(source_budget, "source budget"))
    out = writable_folder(
        Path(args.output_dir) if args.output_dir else (results or Path("results")) / "similarity",
        "--output_dir",
    )
    runner = SuiteRunner(
        out / ".runner", data_dir=args.data_dir, cache_dir=args.cache_dir, registry=registry
    )
    caps: dict[str, Any] = {
        k: int(config[k]) for k in CAPS if config.get(k)
    }  # the suite's, so its caches are reused
    if config.get("max_train_samples_per_task"):
        caps["max_train_samples_per_task"] = {
            str(k): int(v) for k, v in sorted(config["max_train_samples_per_task"].items())
        }
    if args.max_rows is not None and args.max_rows < 2:
        raise ConfigError(f"--max_rows: expected a whole number >= 2, got {args.max_rows}")
    if getattr(args, "max_train_samples", None):
        if args.max_train_samples < 1:
            raise ConfigError(
                f"--max_train_samples: expected a positive whole number, got {args.max_train_samples}"
            )
        caps["max_train_samples"] = args.max_train_samples
    frames: dict[str, pd.DataFrame] = {}
    drawn: list[Path] = []
    for modality, group in sorted(by_modality.items()):  # one reference backbone per modality
        if len(group) < 2:
            continue
        setup = SimilaritySetup(
            backbone=_backbone(args, config, modality, DEFAULT_BACKBONES),
            source_budget=budget,
            source_seed=int(config.get("source_seed", 0) or 0),
            limit=args.limit or config.get("limit"),
            max_rows=args.max_rows,
            caps=caps,
        )
        computer = SimilarityComputer(runner, setup)
        group_frames = computer.compute(group, measures)
        for name, frame in group_frames.items():
            frames[name] = pd.concat([frames[name], frame]) if name in frames else frame
        drawn += write_covariances(getattr(computer, "views", {}), out, modality)
        drawn += write_task_pictures(group_frames, out, modality)
    records = load_records(results, strict=False)[0] if results else []
    for name in measures or reg.names():  # measures read from the runs' records
        if reg.get(name).kind == "recorded":
            frame = reg.get(name).fn(records)
            frame = frame[frame["source"].isin(tasks) & frame["target"].isin(tasks)]
            if frame.empty:
                print(f"{name}: no run in {results or '(no --results)'} recorded it; skipped")
            else:
                frames[name] = frame
    written = drawn + write_matrices(frames, out)
    print(f"{len(frames)} measure(s) on {len(tasks)} task(s) -> {out}")
    written += report_failures(frames, out)
    suite_pairs = None
    if results:  # the suite's own source -> target pairs
        ran = pair_gains(records)
        suite_pairs = set(zip(ran["source"], ran["target"])) or None
    truth = _truth_table(frames, tasks, registry, known_relatedness, rank_statistics, suite_pairs)
    if not truth.empty:
        truth.to_csv(out / "known_relatedness.csv", index=False)
        which = (
            "the suite's source → target pairs"
            if suite_pairs
            else "every ordered pair of the tasks"
        )
        print(
            f"\nagainst the known relatedness of synthetic families ({which}; τ per target first)\n"
            + _md(truth_readable(truth))
        )
        if not truth["rankable"].all():
            print(TOO_FEW_NOTE)
    if results:
        gains = pair_gains(records)
        gains = gains[gains["method"] == args.method]
        if gains.empty:
            print(
                f"no single-source {args.method} runs with a no-source partner in {results}: no correlation"
            )
        else:
            scored = {m: f for m, f in frames.items() if f["score"].notna().any()}
            varies = replicate_description(records, args.method)  # which seeds the gains re-draw
            tables = []
            for family, targets in _families(gains["target"].unique(), registry).items():
                fam_gains = gains[gains["target"].isin(targets)]
                fam_scores = {m: f[f["target"].isin(targets)] for m, f in scored.items()}
                fam_scores = {m: f for m, f in fam_scores.items() if f["score"].notna().any()}
                table = correlation_table(
                    fam_gains, fam_scores, n_boot=args.n_boot, n_perm=args.n_boot
                )
                table.insert(0, "family", family)
                table["ceiling_varies"] = varies
                tables.append(table)
                print(
                    f"\n{family} targets: measures against the realised gain of {args.method} "
                    f"(95 % bootstrap intervals; p: one-sided, the measure's scores shuffled among each target's sources)\n"
                    + _md(_readable(table))
                )
                if not table["rankable"].all():
                    print(TOO_FEW_NOTE)
                ceiling = family_ceiling(table, fam_gains, n_boot=args.n_boot)
                print(ceiling_summary({**ceiling, "ceiling_varies": varies}))
            correlation = pd.concat(tables)
            correlation.to_csv(out / "correlation.csv", index=False)
            written += write_gain_pictures(gains, frames, out, args.method)
            written += write_when_to_transfer(records, frames, correlation, out)
    print(f"wrote {len(written)} file(s)")
    return 0


def suite_tasks(config: dict[str, Any], where: str) -> list[str]:
    """A suite's sources and targets, in order, once each. A suite run with `--targets a,b`
    keeps that string in its config.yaml: it is a list of names, never the string's characters."""
    from harness.suites import as_list, parse_sources

    sources = [s for ss in parse_sources(config.get("sources", []), where) for s in ss]
    targets = as_list(config["targets"], str, where, "targets") if config.get("targets") else []
    return list(dict.fromkeys([*sources, *targets]))


def _families(targets: Any, registry: Any) -> dict[str, list[str]]:
    """Targets grouped by family (modality / problem): which measure works is task-dependent."""
    out: dict[str, list[str]] = {}
    for t in sorted(targets):
        card = registry.get(t)
        out.setdefault(f"{card.modality}/{card.problem}", []).append(t)
    return out


def _backbone(
    args: argparse.Namespace, config: dict[str, Any], modality: str, defaults: dict
) -> dict[str, Any]:
    from harness.backbones import BackboneSpec, resolve_modality
    from harness.spec import dataclass_from_dict

    if args.backbone:
        value: Any = {"name": args.backbone}
    else:
        value = defaults[modality]
        for item in config.get("backbones") or []:  # the suite's backbone of this modality
            item = {"name": item} if isinstance(item, str) else dict(item)
            if resolve_modality(dataclass_from_dict(BackboneSpec, item, "backbone")) == modality:
                value = item
                break
    return dataclasses.asdict(dataclass_from_dict(BackboneSpec, dict(value), "backbone"))


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


def _readable(table: pd.DataFrame) -> pd.DataFrame:
    """The correlation table as printed: each statistic with its interval, or `n/a: 2 pairs`
    where the row has too few pairs to rank (`harness.analysis.correlation.too_few_text`)."""
    from harness.analysis.correlation import ceiling_columns as ceilings
    from harness.analysis.correlation import row_rankable, statistic_text

    rows = [r for _, r in table.iterrows()]
    ok = [row_rankable(r) for r in rows]

    def ci(s: str) -> list[str]:
        return [statistic_text(r, s) for r in rows]

    def rate(s: str) -> list[object]:
        return [
            round(float(r[s]), 2) if k and pd.notna(r[s]) else ("n/a" if not k else "")
            for r, k in zip(rows, ok)
        ]

    view = pd.DataFrame(
        {
            "measure": table["measure"],
            "Kendall τ": ci("kendall_tau"),
            "p (τ)": table["kendall_tau_p"].round(3),
            "weighted τ": ci("weighted_tau"),
            "Spearman ρ": ci("spearman_rho"),
            "τ per target": ci("per_target_tau"),
            "p (per target)": table["per_target_tau_p"].round(3),
            "top-1": rate("top1"),
            "top-3": rate("top3"),
            "pairs": table["pairs"],
        }
    )
    if "ceiling_seeds" in table:  # beside each τ: what the realised gain reaches with itself
        view.insert(3, "ceiling τ", ceilings(table, "kendall_tau"))
        at = view.columns.get_loc("p (per target)") + 1
        view.insert(at, "ceiling τ per target", ceilings(table, "per_target_tau"))
    return view


def _md(df: pd.DataFrame) -> str:
    from tabulate import tabulate

    return tabulate(df, headers="keys", tablefmt="github", showindex=False, floatfmt=".3f")


def write_when_to_transfer(
    records: list, frames: dict[str, pd.DataFrame], correlation: pd.DataFrame, out: Path
) -> list[Path]:
    """The when-to-transfer table, by the measure that predicted gain best (over all families;
    only rows with enough pairs to rank count, when there are any)."""
    from harness.analysis.when_to_transfer import when_to_transfer

    ranked = correlation[~correlation["measure"].str.startswith("floor_")].dropna(
        subset=["kendall_tau"]
    )
    if ranked.empty:
        return []
    if "rankable" in ranked and ranked["rankable"].astype(bool).any():
        ranked = ranked[ranked["rankable"].astype(bool)]
    measure = ranked.groupby("measure")["kendall_tau"].mean().sort_values(ascending=False).index[0]
    table = when_to_transfer(records, frames[measure])
    if table.empty:
        return []
    table.insert(0, "measure", measure)
    table.to_csv(out / "when_to_transfer.csv", index=False)
    print(
        f"\nwhen to transfer: the best method per data fraction and {measure} tercile "
        "(its margin over the runner-up, 95 % interval over source, target and seed)\n" + _md(table)
    )
    return [out / "when_to_transfer.csv"]


def write_matrices(frames: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    """Each measure's source × target matrix as csv and as a Hinton diagram."""
    from harness.analysis.plots import draw_hinton
    from harness.similarity.compute import as_matrix

    written = []
    for name, frame in frames.items():
        if frame.empty:
            continue
        m = as_matrix(frame)
        as_matrix(frame, show_failures=True).to_csv(out / f"{name}.csv")  # "failed: <reason>"
        written.append(out / f"{name}.csv")
        if m.notna().any().any():
            written += draw_hinton(m, out / f"hinton_{name}", title=f"{name}")
    return written


def report_failures(frames: dict[str, pd.DataFrame], out: Path) -> list[Path]:
    """Print the measures that failed (raised, or gave NaN) and why, and write every failed
    score to failures.csv: a failed score is not a missing one."""
    from harness.similarity.compute import failure_summary, failures

    failed = failures(frames)
    if failed.empty:
        return []
    failed.to_csv(out / "failures.csv", index=False)
    header = (
        f"\nFAILED: {failed['measure'].nunique()} measure(s) raised or gave NaN; their failed "
        "scores read 'failed: <reason>' in the matrices and are left out of the tables below "
        f"(each one in {out / 'failures.csv'})"
    )
    print(header + "\n" + _md(failure_summary(frames)))
    return [out / "failures.csv"]


def write_task_pictures(frames: dict[str, pd.DataFrame], out: Path, modality: str) -> list[Path]:
    """For one modality's tasks: every complete task × task matrix as a clustered heatmap, and
    the tasks on a 2-D map (MDS) with their dendrogram, from the Fréchet distances."""
    from harness.analysis.plots import draw_heatmap, draw_task_map
    from harness.similarity.compute import as_matrix

    written = []
    for name, frame in frames.items():
        if frame.empty:
            continue
        m = as_matrix(frame)
        if list(m.index) != list(m.columns) or len(m) < 3 or m.isna().any().any():
            continue
        written += draw_heatmap(
            m, out / f"heatmap_{name}_{modality}", title=f"{name} ({modality}, clustered)"
        )
        if name == "frechet":
            written += draw_task_map(
                -m, out / f"task_map_{modality}", title=f"{modality} tasks by Fréchet distance"
            )
    return written


def write_covariances(
    views: dict[str, Any], out: Path, modality: str, dims: int = 12
) -> list[Path]:
    """Each task's feature covariance matrix, drawn as a Hinton diagram in one shared basis (the
    top principal components of all the tasks' reference features), so the pictures compare."""
    import numpy as np

    from harness.analysis.plots import draw_hinton

    if len(views) < 2:
        return []
    pooled = np.concatenate([v.features for v in views.values()])
    pooled = pooled - pooled.mean(0)
    basis = np.linalg.svd(pooled, full_matrices=False)[2][:dims].T
    written = []
    for name, view in views.items():
        z = (view.features - view.features.mean(0)) @ basis
        cov = pd.DataFrame(
            np.cov(z, rowvar=False),
            index=[f"pc{i + 1}" for i in range(z.shape[1])],
            columns=[f"pc{i + 1}" for i in range(z.shape[1])],
        )
        written += draw_hinton(
            cov,
            out / f"covariance_{name}",
            title=f"{name}: feature covariance ({modality})",
            annotate=False,
        )
    return written


def write_gain_pictures(
    gains: pd.DataFrame, frames: dict[str, pd.DataFrame], out: Path, method: str = ""
) -> list[Path]:
    """The gain matrix (mean over the runs of each pair: seeds and fractions) as `gain.csv` and
    a Hinton diagram, and gain against each measure."""
    from harness.analysis.plots import draw_hinton, draw_scatter

    mean = gains.groupby(["source", "target"])["gain"].mean().reset_index()
    matrix = mean.pivot(index="source", columns="target", values="gain")
    matrix.to_csv(out / "gain.csv")  # what the picture draws
    what = f"realised gain{f' of {method}' if method else ''} (mean over seeds and fractions)"
    written = [out / "gain.csv", *draw_hinton(matrix, out / "hinton_gain", title=what)]
    for name, frame in frames.items():
        both = frame.merge(mean, on=["source", "target"]).dropna()
        if len(both) >= 2:
            labels = [f"{s}→{t}" for s, t in zip(both["source"], both["target"])]
            written += draw_scatter(
                both["score"].to_numpy(),
                both["gain"].to_numpy(),
                labels,
                out / f"scatter_{name}",
                xlabel=name,
                ylabel="gain",
            )
    return written
