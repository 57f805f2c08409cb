"""Spearman rank-order correlation coefficient (SciPy)."""

import datasets
import evaluate
from scipy.stats import spearmanr

_DESCRIPTION = """
The Spearman rank-order correlation coefficient measures the monotonic relationship between
two variables: the Pearson correlation of their ranks. It lies in [-1, 1]: 0 means no
monotonic correlation, +1 / -1 an exact increasing / decreasing relationship. The p-value is
for the null hypothesis that the two are uncorrelated. A constant input gives NaN.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`): predicted values.
    references (`list` of `float`): ground-truth values.
    return_pvalue (`bool`): also return the two-sided p-value. Defaults to False.
Returns:
    spearmanr (`float`): in [-1, 1].
    spearmanr_pvalue (`float`): only when `return_pvalue` is True.
Examples:
    >>> spearman = evaluate.load("harness/metrics/modules/spearmanr")
    >>> spearman.compute(predictions=[10, 9, 2.5, 6, 4], references=[1, 2, 3, 4, 5])
    {'spearmanr': -0.7}
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
class Spearmanr(evaluate.Metric):
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
                "https://docs.scipy.org/doc/scipy/reference/generated/scipy.stats.spearmanr.html"
            ],
        )

    def _compute(self, predictions, references, return_pvalue=False):
        statistic, pvalue = spearmanr(references, predictions)
        if return_pvalue:
            return {"spearmanr": float(statistic), "spearmanr_pvalue": float(pvalue)}
        return {"spearmanr": float(statistic)}
