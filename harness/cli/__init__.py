"""The `transferbench` command line: a thin layer of argument parsing and printing over the
library (`harness.workflows`, `harness.similarity`, `harness.analysis`)."""

from harness.cli.app import build_parser, main

__all__ = ["build_parser", "main"]
