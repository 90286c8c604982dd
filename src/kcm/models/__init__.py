"""Model wrappers: pretrained encoders loaded from files shipped in PyPI packages (offline)."""
