"""Metrics: every entry of METRICS, and the shipped `glue` module, against scikit-learn / SciPy.

Registry-driven: a new METRICS entry is tested here without a new test, as long as its
(module, key) pair has a reference function in REFERENCES below (a test says so when not).
"""

from __future__ import annotations

import os

for _var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE"):
    os.environ.setdefault(_var, "1")

import ast  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
from types import SimpleNamespace  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy import stats  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

from harness.errors import UnknownNameError  # noqa: E402
from harness.metrics import (  # noqa: E402
    METRICS,
    MODULES_DIR,
    MetricSpec,
    compute_metric,
    compute_metrics,
    is_better,
    load_module,
    metric_spec,
)

SEEDS = (0, 1, 2)
N = 64


def _accuracy(y, p, normalize=True, sample_weight=None):
    return skm.accuracy_score(y, p, normalize=normalize, sample_weight=sample_weight)


def _f1(y, p, **kwargs):
    return skm.f1_score(y, p, **kwargs)


def _mcc(y, p, **kwargs):
    return skm.matthews_corrcoef(y, p, **kwargs)


def _pearson(y, p, **_):
    return stats.pearsonr(y, p)[0]


def _spearman(y, p, **_):
    return stats.spearmanr(y, p)[0]


def _mse(y, p, squared=True, **kwargs):
    mse = skm.mean_squared_error(y, p, **kwargs)
    return mse if squared else math.sqrt(mse)


# (module folder, result key) -> reference(references, predictions, **spec.kwargs)
REFERENCES = {
    ("accuracy", "accuracy"): _accuracy,
    ("f1", "f1"): _f1,
    ("matthews_correlation", "matthews_correlation"): _mcc,
    ("pearsonr", "pearsonr"): _pearson,
    ("spearmanr", "spearmanr"): _spearman,
    ("mse", "mse"): _mse,
    ("glue", "accuracy"): _accuracy,
    ("glue", "f1"): _f1,
    ("glue", "matthews_correlation"): _mcc,
    ("glue", "pearson"): _pearson,
    ("glue", "spearmanr"): _spearman,
}

GLUE_KEYS = {
    "cola": {"matthews_correlation"},
    "sst2": {"accuracy"},
    "mrpc": {"accuracy", "f1"},
    "stsb": {"pearson", "spearmanr"},
    "qqp": {"accuracy", "f1"},
    "mnli": {"accuracy"},
    "mnli_mismatched": {"accuracy"},
    "mnli_matched": {"accuracy"},
    "qnli": {"accuracy"},
    "rte": {"accuracy"},
    "wnli": {"accuracy"},
    "ax": {"accuracy"},
}


def _labels(seed: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Random references, and predictions that agree with them about 60% of the time."""
    rng = np.random.default_rng(seed)
    refs = rng.integers(0, num_classes, N)
    preds = np.where(rng.random(N) < 0.6, refs, rng.integers(0, num_classes, N))
    return preds, refs


def _floats(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random float32 references in [0, 5] and noisy predictions of them (STS-B-like)."""
    rng = np.random.default_rng(seed)
    refs = rng.uniform(0, 5, N).astype(np.float32)
    preds = (refs + rng.normal(0, 1.5, N)).astype(np.float32)
    return preds, refs


def _inputs(problem: str, seed: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    return _floats(seed) if problem == "regression" else _labels(seed, num_classes)


def _cases():
    for name, spec in sorted(METRICS.items()):
        for problem in spec.problems:
            classes = (2, 3) if problem in ("classification", "multiple_choice") else (0,)
            for num_classes in classes:
                for seed in SEEDS:
                    kind = f"{num_classes}class" if num_classes else "float"
                    yield pytest.param(name, problem, num_classes, seed, id=f"{name}-{kind}-{seed}")


def _widen(values: np.ndarray) -> np.ndarray:
    """float32 inputs (as the modules store them) computed on in float64, as evaluate does."""
    return values.astype(np.float64) if values.dtype.kind == "f" else values


def _expected(reference, refs, preds, kwargs):
    """The reference value, or the exception type the reference raises."""
    try:
        return reference(_widen(refs), _widen(preds), **kwargs)
    except ValueError as exc:
        return exc


# --- the registry itself ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(METRICS))
def test_spec_is_well_formed(name):
    spec = METRICS[name]
    assert spec.name == name
    assert spec.direction in ("max", "min")
    assert spec.problems and set(spec.problems) <= {
        "classification",
        "regression",
        "multiple_choice",
    }
    assert (MODULES_DIR / spec.module / f"{spec.module}.py").is_file(), spec.module
    assert (spec.module, spec.key) in REFERENCES, (
        f"add a scikit-learn/SciPy reference for ({spec.module!r}, {spec.key!r}) to REFERENCES"
    )


@pytest.mark.parametrize("name", sorted(METRICS))
def test_feature_types_fit_problems(name):
    spec = METRICS[name]
    info = load_module(spec.module, spec.config_name).info
    dtype = info.features["predictions"].dtype
    for problem in spec.problems:
        assert dtype.startswith("float" if problem == "regression" else "int"), (name, dtype)


MODULE_DIRS = sorted(p.name for p in MODULES_DIR.iterdir() if (p / f"{p.name}.py").is_file())


@pytest.mark.parametrize("module", MODULE_DIRS)
def test_module_source_and_info(module):
    """One `import x` per line (evaluate's dependency check parses them), and a full MetricInfo."""
    source = (MODULES_DIR / module / f"{module}.py").read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            assert len(node.names) == 1, f"{module}: split '{ast.unparse(node)}' into one per line"
    config = "sst2" if module == "glue" else None
    info = load_module(module, config).info
    assert info.description.strip() and info.citation.strip() and info.inputs_description.strip()
    assert set(info.features) == {"predictions", "references"}


# --- every METRICS entry against scikit-learn / SciPy ----------------------------------------


@pytest.mark.parametrize(("name", "problem", "num_classes", "seed"), list(_cases()))
def test_metric_matches_reference(name, problem, num_classes, seed):
    spec = METRICS[name]
    preds, refs = _inputs(problem, seed, num_classes)
    expected = _expected(REFERENCES[(spec.module, spec.key)], refs, preds, spec.kwargs)
    if isinstance(expected, Exception):  # e.g. binary F1 on three classes: must fail too
        with pytest.raises(ValueError):
            compute_metric(name, preds, refs)
        return
    got = compute_metric(name, preds, refs)
    assert isinstance(got, float)
    assert got == pytest.approx(float(expected), rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("name", sorted(METRICS))
def test_metric_accepts_lists_arrays_and_tuples(name):
    spec = METRICS[name]
    preds, refs = _inputs(spec.problems[0], 0, 2)
    as_array = compute_metric(name, preds, refs)
    assert compute_metric(name, preds.tolist(), refs.tolist()) == pytest.approx(as_array)
    assert compute_metric(name, tuple(preds.tolist()), tuple(refs.tolist())) == pytest.approx(
        as_array
    )


@pytest.mark.parametrize("name", sorted(METRICS))
def test_perfect_predictions_score_best(name):
    spec = METRICS[name]
    _, refs = _inputs(spec.problems[0], 0, 2)
    best = 0.0 if spec.direction == "min" else 1.0
    assert compute_metric(name, refs, refs) == pytest.approx(best, abs=1e-6)


def test_compute_metrics_uses_card_metrics():
    card = SimpleNamespace(metrics=("accuracy", "mcc", "f1"))
    preds, refs = _labels(0, 2)
    scores = compute_metrics(card, preds, refs)
    assert list(scores) == ["accuracy", "mcc", "f1"]
    assert scores["mcc"] == pytest.approx(skm.matthews_corrcoef(refs, preds))


# --- predictions vs references: which is which ---------------------------------------------
# Every metric in METRICS has the same value with predictions and references swapped: accuracy,
# MCC, Pearson, Spearman and MSE by definition, and F1 too, binary, micro and macro alike (the
# F1 of a class is 2TP / (2TP + FP + FN), and a swap only exchanges FP and FN). So the value
# tests above cannot see a swap. These can: F1 averaged by reference support ("weighted") is
# order-sensitive, so it catches a swap in the f1 module, compute_metric, compute_metrics and
# the evaluation loop; and a spy on each module's scikit-learn call checks which argument it
# is given as y_true (a swap there changes no value today, but would as soon as an
# order-sensitive option such as average="weighted" reached it).

# imbalanced: the references have 8 negatives and 2 positives, the predictions 5 and 5
ORDER_REFS = [0] * 8 + [1] * 2
ORDER_PREDS = [0] * 5 + [1] * 5
WEIGHTED_F1 = MetricSpec(
    "weighted_f1", "f1", "f1", "max", ("classification",), {"average": "weighted"}
)


def _weighted_f1(y_true, y_pred) -> float:
    return float(skm.f1_score(y_true, y_pred, average="weighted"))


def test_order_cases_are_asymmetric():
    """The cases below only catch a swap because they give another value when swapped."""
    right, swapped = _weighted_f1(ORDER_REFS, ORDER_PREDS), _weighted_f1(ORDER_PREDS, ORDER_REFS)
    assert right == pytest.approx(0.72967, abs=1e-5)
    assert swapped == pytest.approx(0.67033, abs=1e-5)
    # ...while every card-level metric is symmetric on them, so no METRICS value can tell
    for name in ("accuracy", "f1", "macro_f1", "mcc"):
        assert compute_metric(name, ORDER_PREDS, ORDER_REFS) == pytest.approx(
            compute_metric(name, ORDER_REFS, ORDER_PREDS)
        ), name


def test_f1_module_order():
    got = load_module("f1").compute(
        predictions=ORDER_PREDS, references=ORDER_REFS, average="weighted"
    )["f1"]
    assert got == pytest.approx(_weighted_f1(ORDER_REFS, ORDER_PREDS))


def test_compute_metric_and_compute_metrics_order(monkeypatch):
    """A card whose primary metric is an order-sensitive F1, on imbalanced labels."""
    monkeypatch.setitem(METRICS, WEIGHTED_F1.name, WEIGHTED_F1)
    expected = _weighted_f1(ORDER_REFS, ORDER_PREDS)
    assert compute_metric("weighted_f1", ORDER_PREDS, ORDER_REFS) == pytest.approx(expected)
    card = SimpleNamespace(metrics=("weighted_f1", "f1"), primary_metric="weighted_f1")
    scores = compute_metrics(card, ORDER_PREDS, ORDER_REFS)
    assert scores["weighted_f1"] == pytest.approx(expected)
    assert scores["f1"] == pytest.approx(skm.f1_score(ORDER_REFS, ORDER_PREDS))


def test_evaluate_loader_order(monkeypatch):
    """The evaluation loop: model outputs -> predictions_from -> compute_metrics(card, p, r)."""
    import torch

    from harness.training import evaluate_loader

    class Echo(torch.nn.Module):  # logits that make argmax return the batch's `x`
        def forward(self, x):
            return torch.nn.functional.one_hot(x, 2).float()

    monkeypatch.setitem(METRICS, WEIGHTED_F1.name, WEIGHTED_F1)
    card = SimpleNamespace(problem="classification", metrics=("weighted_f1",))
    loader = [
        {"x": torch.tensor(ORDER_PREDS[i : i + 4]), "labels": torch.tensor(ORDER_REFS[i : i + 4])}
        for i in range(0, len(ORDER_REFS), 4)
    ]
    accelerator = SimpleNamespace(gather_for_metrics=lambda tensors: tensors)
    scores = evaluate_loader(Echo(), loader, card, accelerator)
    assert scores["weighted_f1"] == pytest.approx(_weighted_f1(ORDER_REFS, ORDER_PREDS))


# (module, config, the scikit-learn function it calls, references, predictions)
SKLEARN_CALLS = [
    ("accuracy", None, "accuracy_score", ORDER_REFS, ORDER_PREDS),
    ("f1", None, "f1_score", ORDER_REFS, ORDER_PREDS),
    ("matthews_correlation", None, "matthews_corrcoef", ORDER_REFS, ORDER_PREDS),
    ("mse", None, "mean_squared_error", [1.0, 2.0, 3.0, 4.0], [2.5] * 4),  # constant predictions
    ("glue", "mrpc", "f1_score", ORDER_REFS, ORDER_PREDS),
    ("glue", "qqp", "f1_score", ORDER_REFS, ORDER_PREDS),
    ("glue", "cola", "matthews_corrcoef", ORDER_REFS, ORDER_PREDS),
]


@pytest.mark.parametrize(
    ("module", "config", "function", "refs", "preds"),
    SKLEARN_CALLS,
    ids=[f"{m}-{c}-{f}" if c else f"{m}-{f}" for m, c, f, _, _ in SKLEARN_CALLS],
)
def test_module_gives_sklearn_references_as_y_true(
    monkeypatch, module, config, function, refs, preds
):
    """Each module hands scikit-learn its references as y_true and its predictions as y_pred.
    (The pearsonr and spearmanr modules call SciPy, whose two arguments play the same role.)"""
    metric = load_module(module, config)
    namespace = sys.modules[type(metric).__module__]
    real, calls = getattr(namespace, function), []

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(namespace, function, spy)
    metric.compute(predictions=preds, references=refs)
    assert len(calls) == 1
    args, kwargs = calls[0]
    y_true = kwargs["y_true"] if "y_true" in kwargs else args[0]
    y_pred = kwargs["y_pred"] if "y_pred" in kwargs else args[1]
    np.testing.assert_array_equal(np.asarray(y_true), refs)
    np.testing.assert_array_equal(np.asarray(y_pred), preds)


# --- edge cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("constant", [0, 1])
def test_mcc_constant_predictions_is_zero(constant):
    _, refs = _labels(3, 2)
    preds = np.full_like(refs, constant)
    assert skm.matthews_corrcoef(refs, preds) == 0.0
    assert compute_metric("mcc", preds, refs) == 0.0
    assert load_module("glue", "cola").compute(predictions=preds, references=refs) == {
        "matthews_correlation": 0.0
    }


def test_mcc_inverse_predictions_is_minus_one():
    _, refs = _labels(4, 2)
    assert compute_metric("mcc", 1 - refs, refs) == pytest.approx(-1.0)


def test_f1_options():
    preds, refs = _labels(5, 2)
    f1 = load_module("f1")
    assert f1.compute(predictions=preds, references=refs, pos_label=0)["f1"] == pytest.approx(
        skm.f1_score(refs, preds, pos_label=0)
    )
    preds, refs = _labels(5, 3)
    for average in ("macro", "micro", "weighted"):
        got = f1.compute(predictions=preds, references=refs, average=average)["f1"]
        assert got == pytest.approx(skm.f1_score(refs, preds, average=average))
    per_class = f1.compute(predictions=preds, references=refs, average=None)["f1"]
    np.testing.assert_allclose(per_class, skm.f1_score(refs, preds, average=None))


def test_regression_options():
    preds, refs = _floats(6)
    rmse = load_module("mse").compute(predictions=preds, references=refs, squared=False)["mse"]
    assert rmse == pytest.approx(skm.root_mean_squared_error(refs, preds), rel=1e-6)
    res = load_module("pearsonr").compute(predictions=preds, references=refs, return_pvalue=True)
    assert res["p-value"] == pytest.approx(stats.pearsonr(refs, preds)[1], rel=1e-4)
    res = load_module("spearmanr").compute(predictions=preds, references=refs, return_pvalue=True)
    assert res["spearmanr_pvalue"] == pytest.approx(stats.spearmanr(refs, preds)[1], rel=1e-4)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError):
        compute_metric("accuracy", [0, 1, 1], [0, 1])


# --- the glue module -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("config", sorted(GLUE_KEYS))
def test_glue_config_matches_reference(config, seed):
    if config == "stsb":
        preds, refs = _floats(seed)
    else:  # MNLI and AX have three classes; the rest are binary
        preds, refs = _labels(seed, 3 if config.startswith("mnli") or config == "ax" else 2)
    result = load_module("glue", config).compute(predictions=preds, references=refs)
    assert set(result) == GLUE_KEYS[config]
    for key, value in result.items():
        assert isinstance(value, float), (config, key)
        expected = _expected(REFERENCES[("glue", key)], refs, preds, {})
        assert value == pytest.approx(float(expected), rel=1e-6, abs=1e-6), (config, key)


def test_glue_unknown_config_raises():
    with pytest.raises(KeyError, match="sst2"):
        load_module("glue", "sst3")


# --- names ----------------------------------------------------------------------------------


def test_unknown_metric_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'accuracy'"):
        compute_metric("acuracy", [0], [0])
    with pytest.raises(KeyError):  # UnknownNameError is also a KeyError
        metric_spec("nope_not_a_metric")


def test_unknown_module_raises():
    with pytest.raises(UnknownNameError, match="no metric module"):
        load_module("not_a_module")


def test_is_better():
    assert is_better("max", 0.9, 0.8) and not is_better("max", 0.7, 0.8)
    assert is_better("min", 0.7, 0.8) and not is_better("min", 0.9, 0.8)
    assert is_better("min", 5.0, None)
