"""`transferbench recommend --target T`: rank candidate sources for a target by the measure that
best predicted realised gain for targets of its family (modality / problem type) in the results
at hand, and say how reliable that measure was. Only the target's data is needed: no transfer
run to the target has to exist.

When no measure's evidence clears its baselines (`shortfall`: too few pairs to rank, a
permutation p of 0.05 or more, or a τ no higher than the k-NN probe's or a floor's), it says so
first, in words, with each measure's shortfall, and still ranks by the best-supported measure
(`choose_measure`)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import ConfigError

DEFAULT_MEASURE = "logme"  # when there are no results to judge the measures by


BASELINES = ("knn_probe", "floor_source_size", "floor_source_score")  # what a measure must beat


def shortfall(correlation: pd.DataFrame, family: str, row: pd.Series) -> list[str]:
    """Why `row`'s evidence does not clear its baselines, in words ([] when it does). Clearing
    them takes all three: enough pairs to rank (the permutation test able to reach p < 0.05,
    `harness.analysis.correlation.rankable`), a permutation p below 0.05, and a Kendall τ above
    that of every baseline with one (the k-NN probe and the two floors)."""
    from harness.analysis.correlation import ALPHA, row_rankable, too_few_text

    why = []
    if not row_rankable(row):
        why.append(f"{too_few_text(row.get('pairs'), row.get('min_p'))}, too few to rank")
    p = row.get("kendall_tau_p")
    if p is None or pd.isna(p):
        why.append("no permutation p")
    elif p >= ALPHA:
        why.append(f"permutation p = {p:.3f}")
    tau = row.get("kendall_tau")
    if tau is None or pd.isna(tau):
        return [*why, "no Kendall τ (tied scores or gains)"]
    fam = (
        correlation[correlation["family"] == family].drop_duplicates("measure").set_index("measure")
    )
    for base in BASELINES:
        if base == row["measure"] or base not in fam.index or pd.isna(fam.loc[base, "kendall_tau"]):
            continue
        other = fam.loc[base, "kendall_tau"]
        if not (tau > other + 1e-12):
            verb = "ties" if abs(tau - other) <= 1e-12 else "beats"
            why.append(f"{base} {verb} it (τ {other:+.2f})")
    return why


def _support(row: pd.Series) -> tuple:
    """How well a measure's evidence supports it, larger first: rankable, Kendall τ, a lower
    permutation p, and on a tie a baseline (a measure that only ties the k-NN probe has no
    claim over it)."""
    from harness.analysis.correlation import row_rankable

    tau, p = row.get("kendall_tau"), row.get("kendall_tau_p")
    return (
        row_rankable(row),
        -math.inf if pd.isna(tau) else round(float(tau), 12),
        -(math.inf if p is None or pd.isna(p) else float(p)),
        row["measure"] in BASELINES,
    )


def choose_measure(
    correlation: pd.DataFrame, family: str, excluded: set[str]
) -> tuple[pd.Series | None, list[str]]:
    """The family's measure to rank by (floors and excluded measures aside), and [] when its
    evidence clears its baselines (`shortfall`), else one line per measure on why it does not.
    A measure that clears them: the highest Kendall τ of those that do. None does: the
    best-supported one (`_support`), so the ranking still follows the best rule at hand."""
    rows = correlation[
        (correlation["family"] == family)
        & ~correlation["measure"].str.startswith("floor_")
        & ~correlation["measure"].isin(excluded)
    ].dropna(subset=["kendall_tau"])
    if rows.empty:
        return None, []
    rows = [r for _, r in rows.iterrows()]
    cleared = [r for r in rows if not shortfall(correlation, family, r)]
    if cleared:
        return max(cleared, key=lambda r: float(r["kendall_tau"])), []
    ordered = sorted(rows, key=_support, reverse=True)
    said: dict[str, list[str]] = {}  # measures that fall short alike share a line
    for r in ordered:
        why = f"(τ {r['kendall_tau']:+.2f}): " + "; ".join(shortfall(correlation, family, r))
        said.setdefault(why, []).append(str(r["measure"]))
    return ordered[0], [", ".join(names) + " " + why for why, names in said.items()]


def caution(family: str, measure: str, why: list[str], chosen_by_user: bool = False) -> list[str]:
    """What `recommend` says first when no measure's evidence clears its baselines."""
    from harness.analysis.correlation import ALPHA

    rule = (
        f"ranked by {measure}, as asked"
        if chosen_by_user
        else f"still ranked by {measure}, the best-supported rule at hand (of the measures that can score a "
        "new target: enough pairs to rank first, then the highest τ, then the lowest p; a baseline on a tie)"
    )
    return [
        f"caution: no measure's evidence clears its baselines for {family} targets, so which "
        "source transfers best is not known from these results. Clearing them takes enough "
        f"source→target pairs to rank, a permutation p below {ALPHA:g}, and a Kendall τ above the "
        f"k-NN probe's and the floors'. Here:",
        *[f"  {w}" for w in why],
        f"The sources below are {rule}: read the order as a guess, not a finding.",
    ]


def reliability(correlation: pd.DataFrame, family: str, chosen: pd.Series) -> list[str]:
    """How the chosen measure did, beside the noise ceiling of the realised gain (τ between seed
    replicates), and its margin over the k-NN probe and the floors. Over too few pairs to rank,
    τ and the margins read n/a (`harness.analysis.correlation.too_few_text`)."""
    from harness.analysis.correlation import ceiling_summary, row_rankable, too_few_text

    ok = row_rankable(chosen)
    few = too_few_text(chosen.get("pairs"), chosen.get("min_p"))
    measure, pairs, p = chosen["measure"], int(chosen["pairs"]), chosen["kendall_tau_p"]
    if ok:
        lines = [
            f"{measure} predicted the gain of {family} targets with Kendall τ {chosen['kendall_tau']:+.2f} "
            f"[{chosen['kendall_tau_low']:+.2f}, {chosen['kendall_tau_high']:+.2f}] over {pairs} source→target "
            f"pairs (permutation p = {p:.3f}); its first choice was the best source for {chosen['top1']:.0%} "
            f"of targets, among its first three for {chosen['top3']:.0%}."
        ]
    else:
        lines = [
            f"{measure}'s Kendall τ with the gain of {family} targets, {chosen['kendall_tau']:+.2f} over {pairs} "
            f"source→target pairs (permutation p = {p:.3f}), is no evidence ({few}): no ranking of so few "
            "pairs could reach p < 0.05; its top-1 and top-3 hit rates: n/a."
        ]
    lines.append("  " + ceiling_summary(chosen))  # what any measure could reach here
    fam = (
        correlation[correlation["family"] == family].drop_duplicates("measure").set_index("measure")
    )
    for base in BASELINES:
        if base in fam.index and base != chosen["measure"]:
            tau = fam.loc[base, "kendall_tau"]
            margin = "n/a (no ranking)" if pd.isna(tau) else f"{chosen['kendall_tau'] - tau:+.2f}"
            if not ok and not pd.isna(tau):
                margin += f" ({few}: not evidence)"
            shown = "undefined" if pd.isna(tau) else f"{tau:+.2f}"
            lines.append(f"  margin over {base} (τ {shown}): {margin}")
    return lines


@dataclasses.dataclass
class Recommendation:
    """What `recommend` found: the ranking of the sources and what is said around it."""

    target: str
    measure: str
    table: str  # the ranking as printed
    best: str | None  # the best source the measure scored (None: it scored none)
    caution: list[str]  # said first: the evidence behind the ranking does not clear its baselines
    reliability: list[str]  # how the chosen measure did ([]: no evidence at hand)
    notes: list[str]


def _measure_to_rank_by(
    measure: str | None, correlation: pd.DataFrame | None, family: str, correlation_file: Any
) -> tuple[str, pd.Series | None, list[str], list[str]]:
    """The measure to rank by (`measure`, else the best at hand), its correlation row (None:
    none), the caution to say first and the notes to say last."""
    from harness.similarity.registry import discover_measures

    measures = discover_measures()
    notes: list[str] = []
    warn: list[str] = []
    if measure:
        measure = measures.get(measure).name
        if measures.get(measure).kind == "recorded":
            raise ConfigError(
                f"--measure {measure}: it is read from multi-task runs' records, so it "
                "cannot score a target that has no runs; choose a measure computed from data"
            )
        chosen = None
        if correlation is not None:
            match = correlation[
                (correlation["family"] == family) & (correlation["measure"] == measure)
            ]
            chosen = match.iloc[0] if len(match) else None
        if chosen is not None and shortfall(correlation, family, chosen):
            why = [
                f"{measure} (τ {chosen['kendall_tau']:+.2f}): "
                + "; ".join(shortfall(correlation, family, chosen))
            ]
            warn = caution(family, measure, why, chosen_by_user=True)
        return measure, chosen, warn, notes
    excluded = {  # would train the target, or needs runs the target has not had
        n
        for n in measures.names()
        if measures.get(n).needs_task_models or measures.get(n).kind == "recorded"
    }
    chosen, why = (
        choose_measure(correlation, family, excluded) if correlation is not None else (None, [])
    )
    measure = chosen["measure"] if chosen is not None else DEFAULT_MEASURE
    if why:
        warn = caution(family, measure, why)
    elif measure in BASELINES:
        notes.append(
            f"no similarity measure beat the {measure} baseline for {family} targets; "
            "ranking by the baseline itself, whose evidence clears the floors"
        )
    if chosen is None:
        notes.append(
            f"no correlation of measures with realised gain for {family} targets"
            + (f" in {correlation_file}" if correlation_file else "")
            + f" (run `transferbench similarity --results DIR`): ranking by {DEFAULT_MEASURE}, "
            "whose reliability here is unknown"
        )
    return measure, chosen, warn, notes


def _candidate_sources(
    sources: list[str] | None, config: dict[str, Any], target: Any, registry: Any
) -> list[str]:
    """The sources to rank (default: the suite's single sources), of the target's modality."""
    from harness.suites import parse_sources

    if sources is None:
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
    return sources


def recommend(
    target: str,
    results: str | Path | None = None,
    sources: list[str] | None = None,
    measure: str | None = None,
    max_rows: int = 1000,
    include_paths: list[str] | None = None,
    data_dir: str | None = None,
    cache_dir: str | None = None,
) -> Recommendation:
    """Rank the candidate `sources` (default: the suite's in `results`) for `target` by
    `measure`, else by the measure that best predicted the gain of the target's family in
    `results/similarity/correlation.csv`."""
    from harness.similarity.compute import SimilarityComputer, SimilaritySetup
    from harness.similarity.tables import reference_backbone, suite_config
    from harness.spec import Budget
    from harness.suites import DEFAULT_BACKBONES
    from harness.taskregistry import TaskRegistry
    from harness.workspace import Workspace

    registry = TaskRegistry(include_paths or [])
    card = registry.get(target)
    folder = Path(results) if results else None
    config = suite_config(folder) if folder else {}
    candidates = _candidate_sources(sources, config, card, registry)
    family = f"{card.modality}/{card.problem}"
    correlation_file = folder / "similarity" / "correlation.csv" if folder else None
    correlation = (
        pd.read_csv(correlation_file) if correlation_file and correlation_file.exists() else None
    )
    measure, chosen, warn, notes = _measure_to_rank_by(
        measure, correlation, family, correlation_file
    )
    backbone = reference_backbone(None, config, card.modality, DEFAULT_BACKBONES)
    budget = dict(config.get("budget") or {}) | dict(config.get("source_budget") or {})
    setup = SimilaritySetup(
        backbone=backbone,
        source_budget=dataclasses.asdict(Budget.from_dict(budget, "source budget")),
        source_seed=int(config.get("source_seed", 0) or 0),
        limit=config.get("limit"),
        max_rows=max_rows,
    )
    workspace = Workspace(data_dir=data_dir, cache_dir=cache_dir, registry=registry)
    ranked = SimilarityComputer(workspace, setup).score_sources(card.name, candidates, measure)
    ranked = ranked.sort_values("score", ascending=False, na_position="last").reset_index(drop=True)
    ranked.insert(0, "rank", range(1, len(ranked) + 1))
    table, best = ranked_table(ranked)
    shown = (
        reliability(correlation, family, chosen) if chosen is not None and best is not None else []
    )
    return Recommendation(card.name, measure, table, best, warn, shown, notes)


def ranked_table(ranked: pd.DataFrame) -> tuple[str, str | None]:
    """The ranking as printed (a source the measure failed on shows `failed: <reason>`, not a
    blank NaN) and the best source the measure scored (None: it scored none)."""
    from tabulate import tabulate

    shown = ranked[["rank", "source", "score"]].astype(object)
    ok = ranked["status"] == "ok" if "status" in ranked else ranked["score"].notna()
    if "status" in ranked:
        shown.loc[~ok, "score"] = [
            f"{st}: {why}" if why else st
            for st, why in zip(ranked.loc[~ok, "status"], ranked.loc[~ok, "reason"])
        ]
    table = tabulate(shown, headers="keys", tablefmt="github", showindex=False, floatfmt=".4f")
    scored = ranked[ok]
    return table, (str(scored["source"].iloc[0]) if len(scored) else None)
