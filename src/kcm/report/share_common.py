"""What the SHARe-KAN tables (table_compression, table_heads, table_edge) share: storage units
and the deviations every one of them prints."""

MB = 1e6
DEVIATIONS = ["share.task", "share.head", "share.gsb"]


def mb(n: float) -> str:
    """Bytes as MB (10^6 bytes), three decimals."""
    return f"{n / MB:.3f}"


def best_within(sweep: dict, max_cost: float) -> dict | None:
    """The SHARe-KAN row of the sweep with the largest storage ratio whose accuracy is at most
    `max_cost` (a fraction: 0.02 = 2 points) below the dense head's (the first such row on ties);
    None if no row is."""
    dense = sweep["head"]["dense_accuracy"]
    within = [r for r in sweep["rows"] if r["method"] == "share" and dense - r["accuracy"] <= max_cost]
    return max(within, key=lambda r: r["ratio"]) if within else None
