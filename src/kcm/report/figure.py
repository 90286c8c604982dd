"""Saving a figure: PNG for the report, PDF for papers, both with the same bytes on every rerun."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from kcm.io import write_with

# No timestamp, tool version or producer in the files: identical inputs give identical bytes.
PNG_METADATA = {"Software": None}
PDF_METADATA = {"Creator": None, "Producer": None, "CreationDate": None}


def save(fig: plt.Figure, outputs: dict[str, Path]) -> None:
    """Write `fig` to outputs["png"] and outputs["pdf"], then close it."""
    write_with(outputs["png"], lambda tmp: fig.savefig(tmp, format="png", metadata=PNG_METADATA))
    write_with(outputs["pdf"], lambda tmp: fig.savefig(tmp, format="pdf", metadata=PDF_METADATA))
    plt.close(fig)
