"""What the SHARe-KAN tables (table_compression, table_heads, table_edge) share: storage units,
the deviations every one of them prints, and the footer lines on how storage is counted."""

from kcm.share_select import VERDICT_COST, choose, closest

MB = 1e6
DEVIATIONS = ["share.task", "share.head", "share.gsb"]
PRECISION_WORDS = {"fp32": "float", "int8": "int eight", "int8+base": "int eight base"}  # macro names: letters only

__all__ = ["DEVIATIONS", "MB", "PRECISION_WORDS", "VERDICT_COST", "choose", "closest", "counting_notes", "fifty_heads", "mb",
           "operating_point"]


def mb(n: float) -> str:
    """Bytes as MB (10^6 bytes), three decimals."""
    return f"{n / MB:.3f}"


def fifty_heads(sweep: dict, precision: str | None) -> dict:
    """The multi-head row with the most heads at `precision`; None (no setting was chosen on
    validation): at the precision where it has the largest ratio (read from storage, not accuracy)."""
    scaling = sweep["multi_head"]["scaling"]
    most = max(s["heads"] for s in scaling)
    rows = [s for s in scaling if s["heads"] == most and precision in (None, s["precision"])]
    return max(rows, key=lambda s: s["ratio"])  # the first on ties


def operating_point(sweep: dict, cost: float) -> str:
    """The largest ratio within `cost` on validation, in words with its test cost; "none" and the
    closest setting if no setting is within."""
    head, best = sweep["head"], choose(sweep, cost)
    row = best or closest(sweep)
    said = (f"{row['ratio']:.2f}× (K = {row['k']}, {row['precision']}; validation cost "
            f"{100 * (head['dense_val_accuracy'] - row['val_accuracy']):+.1f}, test cost "
            f"{100 * (head['dense_accuracy'] - row['accuracy']):+.1f} points)")
    return said if best else f"none (the closest: {said})"


def counting_notes(sweep: dict) -> list[str]:
    """Footer lines: what the storage count leaves out (zero tensors) and how grids are stored."""
    rows = sweep["rows"]
    dense = next(r for r in rows if r["method"] == "dense")
    share = {r["precision"]: r for r in rows if r["method"] == "share"}
    zero = ", ".join(f"{name} ({n:,} per head)" for name, n in dense.get("absent", {}).items()) or "none"
    zero_share = sorted({c for r in share.values() for c in r.get("absent", {}) if "." not in c})
    grids = sweep["head"].get("uniform_grids", [])
    lines = [f"- A tensor that is identically zero is stored as absent (0 bytes; the format records that it is "
             f"zero), in the dense and the compressed count alike. Here: dense {zero}; compressed "
             f"{', '.join(zero_share) or 'none'} (with its Int8 scale and zero point)."]
    if "base_weight" in zero_share and {"int8", "int8+base"} <= set(share):
        lines[0] += " So int8 and int8+base store the same bytes: the base weights they differ in are absent."
    if grids:
        how = ["t0 and h per input (uniform)" if u else "every knot (not uniform)" for u in grids]
        lines.append("- Grids: a uniform grid is stored as t0 and h per input, any other as all its knots; the "
                     "heads' grids per layer: " + "; ".join(f"layer {i}: {h}" for i, h in enumerate(how)) + ".")
    return lines
