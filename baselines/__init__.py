"""Reference transfer methods, one module each; every module registers itself on import."""
