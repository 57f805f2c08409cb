"""Analysis of run records: seed aggregation and gains, confidence intervals, leaderboards."""
