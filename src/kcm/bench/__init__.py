"""Benchmarks: scripts that print tables with ratios against a reference measured in the same run."""
