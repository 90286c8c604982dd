"""Plain baselines that need no KAN or large model."""
