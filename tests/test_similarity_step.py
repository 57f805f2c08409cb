"""The similarity step at the end of `transferbench run`: skipped, with the reason, where it
cannot run (one task; several processes, whose runs it would have to wait for)."""

from __future__ import annotations

from harness.cli import main


def test_a_run_with_one_task_skips_similarity_and_still_writes_its_board(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(
        [
            "run",
            "--suite",
            "quick",
            "--targets",
            "synth_text_near",
            "--methods",
            "finetune",
            "--sources",
            "none",
            "--fractions",
            "0.5",
            "--seeds",
            "0",
            "--limit",
            "64",
            "--num_train_epochs",
            "1",
            "--output_dir",
            str(out),
            "--cache_dir",
            str(tmp_path / "c"),
        ]
    )
    shown = capsys.readouterr()
    assert code == 0, shown.err
    assert (
        "similarity: skipped, it compares tasks and this run has one (synth_text_near)" in shown.out
    )
    assert (out / "leaderboard.md").exists() or "finetune" in shown.out
