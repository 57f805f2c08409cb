"""One module per similarity measure; each registers itself (see `harness.similarity.registry`)."""
