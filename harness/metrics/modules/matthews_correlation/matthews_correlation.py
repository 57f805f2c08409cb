"""Matthews correlation coefficient (scikit-learn)."""

import datasets
import evaluate
from sklearn.metrics import matthews_corrcoef

_DESCRIPTION = """
The Matthews correlation coefficient (MCC) measures the quality of binary and multi-class
classifications from all four cells of the confusion matrix; it is balanced even when the
classes are of very different sizes. It lies in [-1, 1]: +1 is a perfect prediction, 0 no
better than chance, -1 total disagreement. Constant predictions score 0.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `int`): predicted labels.
    references (`list` of `int`): ground-truth labels.
    sample_weight (`list` of `float`): sample weights. Defaults to None.
Returns:
    matthews_correlation (`float`): in [-1, 1].
Examples:
    >>> mcc = evaluate.load("harness/metrics/modules/matthews_correlation")
    >>> mcc.compute(predictions=[1, 2, 2, 0, 3, 3], references=[1, 3, 2, 0, 3, 2])
    {'matthews_correlation': 0.5384615384615384}
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
@article{matthews1975,
  title={Comparison of the predicted and observed secondary structure of {T4} phage lysozyme},
  author={Matthews, Brian W.},
  journal={Biochimica et Biophysica Acta (BBA) - Protein Structure},
  volume={405},
  number={2},
  pages={442--451},
  year={1975}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MatthewsCorrelation(evaluate.Metric):
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
                "https://scikit-learn.org/stable/modules/generated/sklearn.metrics.matthews_corrcoef.html"
            ],
        )

    def _compute(self, predictions, references, sample_weight=None):
        score = matthews_corrcoef(references, predictions, sample_weight=sample_weight)
        return {"matthews_correlation": float(score)}
