"""The ladder shows transfer in the order the synthetic truth sets: on the text family, a
source near the target helps more than a far one, averaged over three seeds, for
feature extraction and for fine-tuning; gains are read from the leaderboard's own aggregate."""

from __future__ import annotations

import pytest
from suitekit import FE, run, suite

from harness.analysis.gains import aggregate, records_frame
from harness.taskregistry import TaskRegistry
from tasks.generators.synthetic_text import true_relatedness

SOURCE, NEAR, FAR = "synth_text_anchor", "synth_text_near", "synth_text_far"
SEEDS = [0, 1, 2]


@pytest.fixture(scope="module")
def gains(tmp_path_factory):
    specs = suite(
        targets=[NEAR, FAR],
        sources=["none", SOURCE],
        fractions=[0.05],
        seeds=SEEDS,
        methods={"feature_extraction": FE, "finetune": {}},
    )
    _, outcome, records = run(specs, tmp_path_factory.mktemp("ordering"), None)
    assert not outcome.failed
    agg = aggregate(records_frame(list(records.values())))
    with_src = agg[agg["sources"] == SOURCE]
    assert set(with_src["n"]) == {len(SEEDS)}
    return {(r.variant, r.target): r.gain_vs_base for r in with_src.itertuples()}


def test_the_truth_orders_the_targets():
    reg = TaskRegistry()
    kw = {n: reg.get(n).data["generator"]["kwargs"] for n in (SOURCE, NEAR, FAR)}
    assert (
        true_relatedness(kw[SOURCE], kw[NEAR])
        > 0.8
        > 0.2
        > abs(true_relatedness(kw[SOURCE], kw[FAR]))
    )


@pytest.mark.parametrize("method", ["feature_extraction", "finetune"])
def test_a_near_source_helps_more_than_a_far_one(gains, method):
    near, far = gains[(method, NEAR)], gains[(method, FAR)]
    assert near > far + 0.1, (near, far)
    # the near source helps clearly; a method that ignored its source would gain nothing here
    assert near > 0.1, near
