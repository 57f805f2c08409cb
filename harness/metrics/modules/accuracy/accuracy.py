"""Accuracy: the proportion of predictions that equal their references (scikit-learn)."""

import datasets
import evaluate
from sklearn.metrics import accuracy_score

_DESCRIPTION = """
Accuracy is the proportion of correct predictions among all predictions:
Accuracy = (TP + TN) / (TP + TN + FP + FN).
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted labels.
    references (`list` of `int`): ground-truth labels.
    normalize (`bool`): if False, return the number of correct predictions. Defaults to True.
    sample_weight (`list` of `float`): sample weights. Defaults to None.
Returns:
    accuracy (`float`): in [0, 1] when normalize is True, else the (weighted) count correct.
Examples:
    >>> accuracy = evaluate.load("harness/metrics/modules/accuracy")
    >>> accuracy.compute(predictions=[0, 1, 1], references=[0, 1, 0])
    {'accuracy': 0.6666666666666666}
"""

_CITATION = """
@article{scikit-learn,
  title={Scikit-learn: Machine Learning in {P}ython},
  author={Pedregosa, F. and Varoquaux, G. and Gramfort, A. and Michel, V. and Thirion, B.
          and Grisel, O. and Blondel, M. and Prettenhofer, P. and Weiss, R. and Dubourg, V.
          and Vanderplas, J. and Passos, A. and Cournapeau, D. and Brucher, M.
          and Perrot, M. and Duchesnay, E.},
  journal={Journal of Machine Learning Research},
  volume={12},
  pages={2825--2830},
  year={2011}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("int64"),
                    "references": datasets.Value("int64"),
                }
            ),
            reference_urls=[
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.accuracy_score.html"
            ],
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        score = accuracy_score(
            references, predictions, normalize=normalize, sample_weight=sample_weight
        )
        return {"accuracy": float(score)}
