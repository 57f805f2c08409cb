"""F1: the harmonic mean of precision and recall (scikit-learn)."""

import datasets
import evaluate
import numpy as np
from sklearn.metrics import f1_score

_DESCRIPTION = """
The F1 score is the harmonic mean of precision and recall:
F1 = 2 * (precision * recall) / (precision + recall).
Binary by default; use `average` for multi-class problems.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted labels.
    references (`list` of `int`): ground-truth labels.
    labels (`list` of `int`): the labels to include when `average` is not 'binary'.
        Defaults to None.
    pos_label (`int`): the class to report when `average` is 'binary'. Defaults to 1.
    average (`str`): one of 'binary' (default), 'micro', 'macro', 'weighted', 'samples',
        or None (a score per class).
    sample_weight (`list` of `float`): sample weights. Defaults to None.
Returns:
    f1 (`float` or `array` of `float`): in [0, 1]; an array per class when `average` is None.
Examples:
    >>> f1 = evaluate.load("harness/metrics/modules/f1")
    >>> f1.compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0])
    {'f1': 0.6666666666666666}
    >>> f1.compute(predictions=[0, 2, 1, 0], references=[0, 1, 2, 0], average="macro")
    {'f1': 0.3333333333333333}
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
class F1(evaluate.Metric):
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
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.f1_score.html"
            ],
        )

    def _compute(
        self,
        predictions,
        references,
        labels=None,
        pos_label=1,
        average="binary",
        sample_weight=None,
    ):
        score = f1_score(
            references,
            predictions,
            labels=labels,
            pos_label=pos_label,
            average=average,
            sample_weight=sample_weight,
        )
        return {"f1": float(score) if np.size(score) == 1 else np.asarray(score)}
