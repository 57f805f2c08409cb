"""Pearson correlation coefficient (SciPy)."""

import datasets
import evaluate
from scipy.stats import pearsonr

_DESCRIPTION = """
The Pearson correlation coefficient measures the linear relationship between two variables.
It lies in [-1, 1]: 0 means no linear correlation, +1 / -1 an exact positive / negative
linear relationship. The p-value is for the null hypothesis that the two are uncorrelated.
A constant input has no defined correlation: the result is NaN.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`): predicted values.
    references (`list` of `float`): ground-truth values.
    return_pvalue (`bool`): also return the two-sided p-value. Defaults to False.
Returns:
    pearsonr (`float`): in [-1, 1].
    p-value (`float`): only when `return_pvalue` is True.
Examples:
    >>> pearson = evaluate.load("harness/metrics/modules/pearsonr")
    >>> pearson.compute(predictions=[10, 9, 2.5, 6, 4], references=[1, 2, 3, 4, 5])
    {'pearsonr': -0.7428...}
"""

_CITATION = """
@article{2020SciPy-NMeth,
  author  = {Virtanen, Pauli and Gommers, Ralf and Oliphant, Travis E. and others},
  title   = {{SciPy} 1.0: Fundamental Algorithms for Scientific Computing in Python},
  journal = {Nature Methods},
  year    = {2020},
  volume  = {17},
  pages   = {261--272},
  doi     = {10.1038/s41592-019-0686-2}
}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Pearsonr(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "predictions": datasets.Value("float32"),
                    "references": datasets.Value("float32"),
                }
            ),
            reference_urls=[
                "https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.pearsonr.html"
            ],
        )

    def _compute(self, predictions, references, return_pvalue=False):
        statistic, pvalue = pearsonr(references, predictions)
        if return_pvalue:
            return {"pearsonr": float(statistic), "p-value": float(pvalue)}
        return {"pearsonr": float(statistic)}
