"""`python -m harness` is the same as the `transferbench` command."""

from harness.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
