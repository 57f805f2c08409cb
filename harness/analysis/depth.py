"""Score by depth (#20): a probe's score at every layer of each backbone, per source → target.

A record reads layers when its `extra` holds `layer` and `layer_groups` (what the
`feature_extraction` probe writes; layer 1 = the embeddings / stem, layer n = the last block,
the encoder's own output). Runs of `layers: all` are variants `<family>@<k>`; the family is the
variant name without its `@k`. Only ok, comparable runs count.

    depth_table    one row per (backbone, source, target, fraction, family, layer): the mean
                   score over seeds with its 95 % interval (`harness.analysis.intervals`)
    best_layers    per (backbone, source, target, fraction, family): the best layer by mean
                   score (direction-aware), its score and interval, the last layer's score and
                   best − last
    write_depth    depth.csv, depth_best.csv, depth.md and one figure per target (PNG and SVG)
    earlier_layer_records  the layer runs as two competitors for `when_to_transfer`: the last
                   layer (`<family>`) and the earlier layer picked on VALIDATION (`<family>@earlier`)

The best layer of `best_layers` is picked on the very scores it reports (test scores): it says
where the features lie, not what a model chosen without the test set would score; the latter is
`earlier_layer_records`' job.
"""

from __future__ import annotations

import functools
import math
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.gains import setting_keys, with_clipped_interval
from harness.analysis.intervals import INTERVAL_NOTE, interval_text, mean_interval, metric_range
from harness.errors import ConfigError, UnknownNameError
from harness.spec import spec_of

LAYER_SUFFIX = re.compile(r"@(\d+)$")
EARLIER = "earlier"  # `<family>@earlier`: the earlier layer picked on validation
LABELS = ["backbone", "source", "target", "fraction", "family"]
GROUP = [*LABELS, "setting"]  # `setting`: the rest of the spec but seed and layer
# `base_key`: the setting but source, seed and layer (what the runs of every source share)
FIGURE = ["backbone", "target", "fraction", "family", "base_key"]  # one figure each
TABLE_COLUMNS = [
    *LABELS,
    "layer",
    "layer_groups",
    "metric",
    "direction",
    "mean",
    "std",
    "n",
    "ci_low",
    "ci_high",
    "ci_low_unclipped",
    "ci_high_unclipped",
    "ci_clipped",
    "few_seeds",
    "ci_kind",
    "seeds",
    "setting",
    "base_key",
]
BEST_COLUMNS = [
    *LABELS,
    "metric",
    "direction",
    "layer_groups",
    "best",
    "best_layer",
    "best_mean",
    "best_ci_low",
    "best_ci_high",
    "n",
    "last_mean",
    "best_minus_last",
    "setting",
    "base_key",
]


def family_of(variant: str) -> str:
    """The variant's name without its layer suffix: `probe@3` → `probe`."""
    return LAYER_SUFFIX.sub("", variant)


def layer_of(record: dict[str, Any]) -> tuple[int, int] | None:
    """(layer, layer groups) of a record that reads a layer, None for one that does not; a
    layer that is not in 1..n is a `ConfigError` naming the run."""
    extra = record.get("extra") or {}
    if "layer" not in extra or "layer_groups" not in extra:
        return None
    layer, groups = extra["layer"], extra["layer_groups"]
    ok = all(isinstance(v, int) and not isinstance(v, bool) for v in (layer, groups))
    if not ok or not 1 <= layer <= groups:
        raise ConfigError(
            f"run {record.get('run_id', '?')}: extra.layer {layer!r} is not a layer in "
            f"1..layer_groups ({groups!r})"
        )
    return layer, groups


@functools.cache
def layer_keys(method: str) -> tuple[str, ...]:
    """The settings of `method` that name a layer (its `layer_settings`, e.g. `layer` and
    `layers` of `feature_extraction`, `copy_first_n` and `copy_layers` of `finetune`); `layer`
    and `layers` for a method this process does not know (a plug-in not loaded)."""
    from harness.methods import get_method

    try:
        settings = getattr(get_method(method), "layer_settings", None)
    except UnknownNameError:
        settings = None
    return tuple(settings or ("layer", "layers"))


def family_setting(spec: dict[str, Any]) -> dict[str, str]:
    """The setting keys (`harness.analysis.gains.setting_keys`) of a run with its layer left
    out: the runs of one family at every layer (and every seed) of one setting share them."""
    drop = layer_keys(spec["method"])
    config = {k: v for k, v in (spec.get("method_config") or {}).items() if k not in drop}
    return setting_keys({**spec, "variant": family_of(spec["variant"]), "method_config": config})


def _signed(value: float, direction: str) -> float:
    return -value if direction == "min" else value


def layer_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per ok, comparable run that reads a layer (a run stored twice counts once)."""
    rows, seen = [], set()
    for r in records:
        if r.get("status") != "ok" or not r.get("comparable", True):
            continue
        info = layer_of(r)
        if info is None or r.get("primary_score") is None or r.get("run_id") in seen:
            continue
        seen.add(r.get("run_id"))
        s = r["spec"]
        validation = (r.get("validation_metrics") or {}).get(r.get("primary_metric"))
        rows.append(
            {
                "run_id": r.get("run_id"),
                "backbone": s["backbone"]["name"],
                "source": spec_of(s).source_label,
                "target": s["target"],
                "fraction": float(s["fraction"]),
                "family": family_of(s["variant"]),
                "variant": s["variant"],
                "layer": info[0],
                "layer_groups": info[1],
                "seed": s["seed"],
                "score": float(r["primary_score"]),
                "validation": math.nan if validation is None else float(validation),
                "metric": r.get("primary_metric"),
                "direction": r.get("direction") or "max",
                **{k: v for k, v in family_setting(s).items() if k in ("setting", "base_key")},
            }
        )
    return pd.DataFrame(rows)


def depth_table(records: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per (backbone, source, target, fraction, family, layer) of a setting: mean, std,
    seed count and 95 % interval over seeds (cut at the metric's range, the uncut bounds kept in
    `*_unclipped`), the seeds, and the backbone's layer groups. Two runs of one setting, layer
    and seed (a default probe and `<family>@n`) count once."""
    frame = layer_frame(records)
    if frame.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    frame = frame.drop_duplicates(subset=["setting", "layer", "seed"])
    rows = []
    for key, g in frame.groupby([*GROUP, "layer"], sort=True):
        ci = mean_interval(g["score"].to_numpy())
        rows.append(
            {
                **dict(zip([*GROUP, "layer"], key)),
                "layer_groups": int(g["layer_groups"].iloc[0]),
                "metric": g["metric"].iloc[0],
                "direction": g["direction"].iloc[0],
                "mean": float(g["score"].mean()),
                "std": float(g["score"].std(ddof=1)) if len(g) > 1 else 0.0,
                "n": len(g),
                "ci_low": ci.low,
                "ci_high": ci.high,
                "ci_kind": ci.kind,
                "seeds": sorted(g["seed"].tolist()),
                "base_key": g["base_key"].iloc[0],
            }
        )
    table = pd.DataFrame(rows)
    table = with_clipped_interval(table, [metric_range(m) for m in table["metric"]], table["n"])
    order = ["backbone", "target", "fraction", "family", "base_key", "source", "setting", "layer"]
    return table[TABLE_COLUMNS].sort_values(order).reset_index(drop=True)


def best_layers(table: pd.DataFrame) -> pd.DataFrame:
    """Per (backbone, source, target, fraction, family) of a setting: the layer with the best
    mean score (the highest, the lowest for a `min` metric; a tie goes to the deeper layer),
    `best` = "last" when that is the last layer (else "layer k"), its mean and interval, the
    last layer's mean (NaN where it did not run) and `best_minus_last` = best mean − last mean
    (≤ 0 for a `min` metric)."""
    if table.empty:
        return pd.DataFrame(columns=BEST_COLUMNS)
    rows = []
    for key, g in table.groupby(GROUP, sort=True):
        direction = g["direction"].iloc[0]
        signed = [_signed(m, direction) for m in g["mean"]]
        best = g.iloc[max(range(len(g)), key=lambda i: (signed[i], g["layer"].iloc[i]))]
        last_layer = int(g["layer_groups"].iloc[0])
        last = g.loc[g["layer"] == last_layer, "mean"]
        last_mean = float(last.iloc[0]) if len(last) else math.nan
        rows.append(
            {
                **dict(zip(GROUP, key)),
                "metric": g["metric"].iloc[0],
                "direction": direction,
                "layer_groups": last_layer,
                "best": "last" if best["layer"] == last_layer else f"layer {best['layer']}",
                "best_layer": int(best["layer"]),
                "best_mean": float(best["mean"]),
                "best_ci_low": best["ci_low"],
                "best_ci_high": best["ci_high"],
                "n": int(best["n"]),
                "last_mean": last_mean,
                "best_minus_last": float(best["mean"]) - last_mean,
                "base_key": g["base_key"].iloc[0],
            }
        )
    return pd.DataFrame(rows)[BEST_COLUMNS]


def layer_run(record: dict[str, Any]) -> tuple[int, int | None] | None:
    """(layer, layer groups) of an ok run of a layer variant `<family>@k` of any method (the
    layer groups None where its `extra` does not say them), None for any other record."""
    match = LAYER_SUFFIX.search(str((record.get("spec") or {}).get("variant", "")))
    if record.get("status") != "ok" or match is None:
        return None
    return layer_of(record) or (int(match.group(1)), None)


def earlier_layer_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`records` with the runs of each layer family (`<family>@k`, ok) replaced, per paired unit
    (setting but layer, seed), by two competitors: the last layer's run as `<family>`, and the
    run of the layer below the last with the best VALIDATION score (`validation_metrics` of the
    primary metric, direction-aware; a tie goes to the deeper layer) as `<family>@earlier`,
    with its test score. Picking a layer on test scores would select on the test set. The last
    layer is `extra.layer_groups`, or where a run does not record it, the deepest layer of its
    family on its backbone. Every other record is kept as it is; a unit without the last layer
    (or without a validation score below it) gives no `<family>` (or no `<family>@earlier`)."""
    out: list[dict[str, Any]] = []
    units: dict[tuple[str, Any], dict[int, dict[str, Any]]] = defaultdict(dict)
    deepest: dict[tuple[str, str], int] = defaultdict(int)  # (backbone, family): layer
    last_of: dict[tuple[str, Any], int | None] = {}
    for r in records:
        info = layer_run(r)
        if info is None:
            out.append(r)
            continue
        spec = r["spec"]
        family = (spec["backbone"]["name"], family_of(spec["variant"]))
        deepest[family] = max(deepest[family], info[0])
        unit = (family_setting(spec)["setting"], spec.get("seed"))
        units[unit].setdefault(info[0], r)
        last_of[unit] = last_of.get(unit) or info[1]
    for unit, by_layer in units.items():
        spec = next(iter(by_layer.values()))["spec"]
        family = family_of(spec["variant"])
        last = last_of[unit] or deepest[(spec["backbone"]["name"], family)]
        if last in by_layer:
            out.append(_as_variant(by_layer[last], family))
        scored = []
        for layer, r in by_layer.items():
            value = (r.get("validation_metrics") or {}).get(r.get("primary_metric"))
            if layer < last and value is not None and np.isfinite(value):
                scored.append((_signed(float(value), r.get("direction") or "max"), layer, r))
        if scored:
            out.append(_as_variant(max(scored, key=lambda t: t[:2])[2], f"{family}@{EARLIER}"))
    return out


def _as_variant(record: dict[str, Any], variant: str) -> dict[str, Any]:
    return {**record, "spec": {**record["spec"], "variant": variant}}


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("._-") or "x"


def figure_names(table: pd.DataFrame) -> dict[tuple[Any, ...], str]:
    """A filesystem-safe file stem per figure (backbone, target, fraction, family, base key):
    `depth__<backbone>__<target>__<family>__f<fraction>`, the base key added where two figures
    would share a name."""
    keys = list(table.groupby(FIGURE).groups)
    stems = {
        k: "__".join(["depth", _safe(k[0]), _safe(k[1]), _safe(k[3]), f"f{k[2]:g}"]) for k in keys
    }
    taken = list(stems.values())
    return {k: s + (f"__{k[4]}" if taken.count(s) > 1 else "") for k, s in stems.items()}


def depth_markdown(table: pd.DataFrame, best: pd.DataFrame) -> str:
    """The best layers and the score at every layer as markdown tables."""
    shown = LABELS + (["setting"] if table.groupby(LABELS)["setting"].nunique().max() > 1 else [])

    def score(mean: float, low: float, high: float, kind: str, n: int, cut: bool) -> str:
        return f"{mean:.4f} {interval_text(low, high, kind, n, cut)}".strip()

    marks = table[[*GROUP, "layer", "ci_kind", "ci_clipped"]].rename(
        columns={"layer": "best_layer"}
    )
    best = best.merge(marks, on=[*GROUP, "best_layer"], how="left")
    best_rows = best.assign(
        score=[
            score(r.best_mean, r.best_ci_low, r.best_ci_high, r.ci_kind, r.n, r.ci_clipped)
            for r in best.itertuples()
        ],
        last=[f"{v:.4f}" for v in best["last_mean"]],
        best_minus_last=[f"{v:+.4f}" for v in best["best_minus_last"]],
    )[[*shown, "metric", "best", "score", "last", "best_minus_last"]]
    rows = table.assign(
        score=[
            score(r.mean, r.ci_low, r.ci_high, r.ci_kind, r.n, r.ci_clipped)
            for r in table.itertuples()
        ]
    )[[*shown, "layer", "layer_groups", "metric", "score"]]
    return "\n".join(
        [
            "# Score by depth",
            "",
            "Layer 1 = the embeddings / stem, layer n = the last block (the encoder's output). "
            "Mean over seeds with its 95 % interval. The best layer is picked on these same "
            "test scores: it says where the features lie, not what to deploy.",
            "",
            "## Best layer",
            "",
            best_rows.to_markdown(index=False, disable_numparse=True),
            "",
            "## Score at every layer",
            "",
            rows.to_markdown(index=False),
            "",
            INTERVAL_NOTE,
            "",
        ]
    )


def write_depth(records: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    """depth.csv (`depth_table`), depth_best.csv (`best_layers`), depth.md and one figure per
    (backbone, target, fraction, family) in `out_dir`; the paths written, [] (and nothing
    written) when no setting was probed at more than one layer (default probes read the last
    layer only: no curve to draw, no layer to pick)."""
    from harness.analysis.depth_plot import draw_depth

    table = depth_table(records)
    if table.empty or table.groupby(GROUP)["layer"].nunique().max() < 2:
        return []
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"score by depth: output folder {out_dir} is a file")
    out_dir.mkdir(parents=True, exist_ok=True)
    best = best_layers(table)
    paths = [out_dir / "depth.csv", out_dir / "depth_best.csv", out_dir / "depth.md"]
    table.to_csv(paths[0], index=False)
    best.to_csv(paths[1], index=False)
    paths[2].write_text(depth_markdown(table, best), encoding="utf-8")
    names = figure_names(table)
    marks = {k: dict(zip(g["setting"], g["best_layer"])) for k, g in best.groupby(FIGURE)}
    for key, g in table.groupby(FIGURE):
        paths += draw_depth(g, marks[key], out_dir / names[key])
    return paths
