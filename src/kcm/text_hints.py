"""KCM's prompt modification for text: the small model's predicted class written into the text
a large model reads, once per possible class, so every hint is computed once and cached."""

from __future__ import annotations

DEFAULT_TEMPLATE = "{text} (topic hint: {label})"


def variants(texts: list[str], classes: list[str], template: str) -> dict[str, list[str]]:
    """The plain texts and one hinted copy per class."""
    if "{text}" not in template or "{label}" not in template:
        raise ValueError(f"hint template must contain {{text}} and {{label}}, got {template!r}")
    out = {"none": list(texts)}
    for k, label in enumerate(classes):
        out[f"hint_{k}"] = [template.format(text=t, label=label) for t in texts]
    return out
