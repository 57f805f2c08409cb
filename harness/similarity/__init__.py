"""Task similarity: measures (one module each in `measures/`), registered by name."""
