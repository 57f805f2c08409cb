"""The GLUE benchmark's metrics, one configuration per task (scikit-learn and SciPy)."""

import datasets
import evaluate
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

_CITATION = """
@inproceedings{wang2019glue,
  title={{GLUE}: A Multi-Task Benchmark and Analysis Platform for Natural Language Understanding},
  author={Wang, Alex and Singh, Amanpreet and Michael, Julian and Hill, Felix and Levy, Omer
          and Bowman, Samuel R.},
  note={In the Proceedings of ICLR.},
  year={2019}
}
"""

_DESCRIPTION = """
GLUE, the General Language Understanding Evaluation benchmark (https://gluebenchmark.com/),
is a collection of resources for training, evaluating and analysing natural language
understanding systems. This module computes the official metric(s) of one GLUE task,
chosen by its configuration name:
cola → Matthews correlation; mrpc, qqp → accuracy and F1; stsb → Pearson and Spearman
correlation; sst2, mnli, mnli_matched, mnli_mismatched, qnli, rte, wnli, ax → accuracy.
"""

_KWARGS_DESCRIPTION = """
Compute the GLUE evaluation metric associated to each GLUE dataset.
Args:
    predictions: list of predictions to score: integer labels, or floats for 'stsb'.
    references: list of references, one per prediction: integer labels, or floats for 'stsb'.
Returns: depending on the GLUE subset, one or several of:
    "accuracy": accuracy
    "f1": F1 score
    "pearson": Pearson correlation
    "spearmanr": Spearman correlation
    "matthews_correlation": Matthews correlation
Examples:
    >>> glue_metric = evaluate.load("harness/metrics/modules/glue", "sst2")
    >>> glue_metric.compute(predictions=[0, 1], references=[0, 1])
    {'accuracy': 1.0}
    >>> glue_metric = evaluate.load("harness/metrics/modules/glue", "mrpc")
    >>> glue_metric.compute(predictions=[0, 1], references=[0, 1])
    {'accuracy': 1.0, 'f1': 1.0}
    >>> glue_metric = evaluate.load("harness/metrics/modules/glue", "stsb")
    >>> glue_metric.compute(predictions=[0.0, 1.0], references=[0.0, 1.0])
    {'pearson': 1.0, 'spearmanr': 1.0}
    >>> glue_metric = evaluate.load("harness/metrics/modules/glue", "cola")
    >>> glue_metric.compute(predictions=[0, 1], references=[0, 1])
    {'matthews_correlation': 1.0}
"""

CONFIGS = (
    "sst2",
    "mnli",
    "mnli_mismatched",
    "mnli_matched",
    "cola",
    "stsb",
    "mrpc",
    "qqp",
    "qnli",
    "rte",
    "wnli",
    "ax",
)


def simple_accuracy(preds, labels):
    return float((preds == labels).mean())


def acc_and_f1(preds, labels):
    return {"accuracy": simple_accuracy(preds, labels), "f1": float(f1_score(labels, preds))}


def pearson_and_spearman(preds, labels):
    return {
        "pearson": float(pearsonr(preds, labels)[0]),
        "spearmanr": float(spearmanr(preds, labels)[0]),
    }


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Glue(evaluate.Metric):
    def _info(self):
        if self.config_name not in CONFIGS:
            raise KeyError(
                f"unknown GLUE configuration '{self.config_name}'; "
                f"choose one of: {', '.join(CONFIGS)}"
            )
        dtype = "float32" if self.config_name == "stsb" else "int64"
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value(dtype),
                    "references": datasets.Value(dtype),
                }
            ),
            codebase_urls=[],
            reference_urls=["https://gluebenchmark.com/"],
            format="numpy",
        )

    def _compute(self, predictions, references):
        if self.config_name == "cola":
            return {"matthews_correlation": float(matthews_corrcoef(references, predictions))}
        if self.config_name == "stsb":
            return pearson_and_spearman(predictions, references)
        if self.config_name in ("mrpc", "qqp"):
            return acc_and_f1(predictions, references)
        return {"accuracy": simple_accuracy(predictions, references)}
