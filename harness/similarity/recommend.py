"""`transferbench recommend --target T`: rank candidate sources for a target by the measure that
best predicted realised gain for targets of its family (modality / problem type) in the results
at hand, and say how reliable that measure was. Only the target's data is needed: no transfer
run to the target has to exist."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

import pandas as pd

from harness.errors import ConfigError

DEFAULT_MEASURE = "logme"  # when there are no results to judge the measures by


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "recommend", help="rank sources for a target by the measure that predicted gain best"
    )
    p.add_argument("--target", required=True, help="the task to transfer to")
    p.add_argument(
        "--results", help="a transfer suite's results, after `transferbench similarity --results`"
    )
    p.add_argument(
        "--sources", help="comma-separated candidate sources (default: the suite's sources)"
    )
    p.add_argument("--measure", help="rank by this measure instead of the best one")
    p.add_argument("--max_rows", type=int, default=1000)
    p.add_argument("--include_path", action="append", default=[])
    p.add_argument("--data_dir")
    p.add_argument("--cache_dir")
    p.set_defaults(func=cmd_recommend)


def choose_measure(correlation: pd.DataFrame, family: str, excluded: set[str]) -> pd.Series | None:
    """The family's measure with the highest Kendall τ (floors and excluded measures aside)."""
    rows = correlation[(correlation["family"] == family) & ~correlation["measure"].str.startswith("floor_")
                       & ~correlation["measure"].isin(excluded)].dropna(subset=["kendall_tau"])  # fmt: skip
    if rows.empty:
        return None
    return rows.sort_values("kendall_tau", ascending=False).iloc[0]


def reliability(correlation: pd.DataFrame, family: str, chosen: pd.Series) -> list[str]:
    """How the chosen measure did, beside the noise ceiling of the realised gain (τ between seed
    replicates), and its margin over the k-NN probe and the floors."""
    from harness.analysis.correlation import ceiling_summary

    lines = [f"{chosen['measure']} predicted the gain of {family} targets with Kendall τ "
             f"{chosen['kendall_tau']:+.2f} [{chosen['kendall_tau_low']:+.2f}, {chosen['kendall_tau_high']:+.2f}] "
             f"over {int(chosen['pairs'])} source→target pairs (permutation p = {chosen['kendall_tau_p']:.3f}); "
             f"its first choice was the best source for {chosen['top1']:.0%} of targets, "
             f"among its first three for {chosen['top3']:.0%}."]  # fmt: skip
    lines.append("  " + ceiling_summary(chosen))  # what any measure could reach here
    fam = correlation[correlation["family"] == family].set_index("measure")
    for base in ("knn_probe", "floor_source_size", "floor_source_score"):
        if base in fam.index and base != chosen["measure"]:
            tau = fam.loc[base, "kendall_tau"]
            margin = "n/a (no ranking)" if pd.isna(tau) else f"{chosen['kendall_tau'] - tau:+.2f}"
            shown = "undefined" if pd.isna(tau) else f"{tau:+.2f}"
            lines.append(f"  margin over {base} (τ {shown}): {margin}")
    return lines


def cmd_recommend(args: argparse.Namespace) -> int:
    from harness.runner import SuiteRunner
    from harness.similarity.command import _backbone, _suite_config
    from harness.similarity.compute import SimilarityComputer, SimilaritySetup
    from harness.similarity.registry import discover_measures
    from harness.spec import Budget
    from harness.suites import DEFAULT_BACKBONES, parse_sources
    from harness.taskregistry import TaskRegistry

    if args.data_dir:
        os.environ["TRANSFERBENCH_DATA_DIR"] = args.data_dir
    registry = TaskRegistry(args.include_path)
    target = registry.get(args.target)
    results = Path(args.results) if args.results else None
    config = _suite_config(results) if results else {}
    if args.sources:
        sources = [s.strip() for s in args.sources.split(",") if s.strip()]
    else:
        sources = [
            s
            for ss in parse_sources(config.get("sources", []), "suite")
            for s in ss
            if len(ss) == 1
        ]
    sources = [s for s in dict.fromkeys(sources) if s != target.name]
    for s in sources:
        registry.get(s)
    sources = [s for s in sources if registry.get(s).modality == target.modality]
    if not sources:
        raise ConfigError(
            f"no candidate sources of modality {target.modality}: pass --sources (or --results of a suite)"
        )
    family = f"{target.modality}/{target.problem}"
    measures = discover_measures()
    correlation_file = results / "similarity" / "correlation.csv" if results else None
    correlation = (
        pd.read_csv(correlation_file) if correlation_file and correlation_file.exists() else None
    )
    notes: list[str] = []
    if args.measure:
        measure = measures.get(args.measure).name
        if measures.get(measure).kind == "recorded":
            raise ConfigError(f"--measure {measure}: it is read from multi-task runs' records, so it "
                              "cannot score a target that has no runs; choose a measure computed from data")  # fmt: skip
        chosen = None
        if correlation is not None:
            match = correlation[
                (correlation["family"] == family) & (correlation["measure"] == measure)
            ]
            chosen = match.iloc[0] if len(match) else None
    else:
        excluded = {  # would train the target, or needs runs the target has not had
            n
            for n in measures.names()
            if measures.get(n).needs_task_models or measures.get(n).kind == "recorded"
        }
        chosen = choose_measure(correlation, family, excluded) if correlation is not None else None
        measure = chosen["measure"] if chosen is not None else DEFAULT_MEASURE
        if chosen is None:
            notes.append(f"no correlation of measures with realised gain for {family} targets"
                         + (f" in {correlation_file}" if correlation_file else "")
                         + f" (run `transferbench similarity --results DIR`): ranking by {DEFAULT_MEASURE}, "
                           "whose reliability here is unknown")  # fmt: skip
    backbone = _backbone(
        argparse.Namespace(backbone=None), config, target.modality, DEFAULT_BACKBONES
    )
    budget = dict(config.get("budget") or {}) | dict(config.get("source_budget") or {})
    setup = SimilaritySetup(backbone=backbone, source_budget=dataclasses.asdict(Budget.from_dict(budget, "source budget")),
                            source_seed=int(config.get("source_seed", 0) or 0), limit=config.get("limit"),
                            max_rows=args.max_rows)  # fmt: skip
    runner = SuiteRunner((results or Path("results")) / ".recommend", data_dir=args.data_dir,
                         cache_dir=args.cache_dir, registry=registry)  # fmt: skip
    ranked = SimilarityComputer(runner, setup).score_sources(target.name, sources, measure)
    ranked = ranked.sort_values("score", ascending=False, na_position="last").reset_index(drop=True)
    ranked.insert(0, "rank", range(1, len(ranked) + 1))
    table, best = ranked_table(ranked)
    print(f"sources for {target.name}, ranked by {measure}:")
    print(table)
    if best is None:
        print(f"\nno source could be scored by {measure}: nothing to recommend")
        return 1
    print(f"\nrecommended source: {best}")
    if chosen is not None:
        print("reliability: " + "\n".join(reliability(correlation, family, chosen)))
    for n in notes:
        print(f"note: {n}")
    return 0


def ranked_table(ranked: pd.DataFrame) -> tuple[str, str | None]:
    """The ranking as printed (a source the measure failed on shows `failed: <reason>`, not a
    blank NaN) and the best source the measure scored (None: it scored none)."""
    from tabulate import tabulate

    shown = ranked[["rank", "source", "score"]].astype(object)
    ok = ranked["status"] == "ok" if "status" in ranked else ranked["score"].notna()
    if "status" in ranked:
        shown.loc[~ok, "score"] = [f"{st}: {why}" if why else st
                                   for st, why in zip(ranked.loc[~ok, "status"], ranked.loc[~ok, "reason"])]  # fmt: skip
    table = tabulate(shown, headers="keys", tablefmt="github", showindex=False, floatfmt=".4f")
    scored = ranked[ok]
    return table, (str(scored["source"].iloc[0]) if len(scored) else None)
