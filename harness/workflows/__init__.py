"""Workflows over whole result folders: the nightly regression check (`compare`) and the drift
of headline scores over many nights (`history`). See docs/nightly.md."""
