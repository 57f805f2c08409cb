"""TransferBench: a benchmark and evaluation harness for transfer and multi-task learning."""

__version__ = "0.1.0"
