"""Resumable, checksummed downloads (paper-profile datasets: CIFAR-100, MSCOCO).

Bytes go to `<dest>.partial`; a dropped connection resumes from its size with an HTTP Range
request on the next attempt; only a file whose md5 matches is renamed onto `dest`. So `dest`
exists only when complete and verified, and a rerun with `dest` present downloads nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from pathlib import Path

import requests
import urllib3
from tqdm import tqdm

RETRY_STATUS = {408, 429, 500, 502, 503, 504}
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class ChecksumError(RuntimeError):
    """A finished download whose md5 differs from the expected one."""


class IncompleteDownload(RuntimeError):
    """The server ended a response before the promised number of bytes (retried)."""


def md5_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def partial_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".partial")


def _fetch_once(url: str, partial: Path, timeout: float, chunk: int) -> None:
    """Append the missing bytes to `partial` (restarting if the server ignores Range)."""
    offset = partial.stat().st_size if partial.exists() else 0
    # identity: byte offsets must count the file's bytes, not a compressed transfer's.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    with requests.get(url, headers=headers, stream=True, timeout=timeout) as response:
        if response.status_code == 416 and offset:
            return  # nothing left to fetch: the partial file is whole (the md5 decides)
        if response.status_code in RETRY_STATUS:
            raise IncompleteDownload(f"HTTP {response.status_code} from {url}")
        response.raise_for_status()
        total = None
        if response.status_code == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                raise IncompleteDownload(f"{url} answered Range {offset}- with Content-Range {response.headers.get('Content-Range')!r}")
            total = None if match.group(3) == "*" else int(match.group(3))
            mode = "ab"
        else:  # 200: the whole file from its start
            offset, mode = 0, "wb"
            if "Content-Length" in response.headers:
                total = int(response.headers["Content-Length"])
        with open(partial, mode) as handle, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, desc=partial.name, disable=None
        ) as bar:
            # raw stream: no transparent gzip decoding of a .tar.gz the server labels gzip.
            for block in response.raw.stream(chunk, decode_content=False):
                handle.write(block)
                bar.update(len(block))
    if total is not None and partial.stat().st_size < total:
        raise IncompleteDownload(f"{url}: got {partial.stat().st_size} of {total} bytes")


def _verified(path: Path, md5: str, url: str, *, delete: bool) -> None:
    actual = md5_file(path)
    if actual == md5.lower():
        return
    if delete:
        path.unlink(missing_ok=True)
    raise ChecksumError(
        f"checksum mismatch for {path} (from {url}): expected md5 {md5.lower()}, got {actual}. "
        + ("The download was deleted. Rerun to fetch it again; if the mismatch repeats, the server's "
           "file differs from the one this project expects: check the URL and md5 in the config."
           if delete else
           "This file was not written by this download: delete it and rerun to fetch a fresh copy.")
    )


def download(url: str, dest: str | os.PathLike, md5: str, *, timeout: float = 60.0, retries: int = 5,
             backoff: float = 2.0, chunk: int = 1 << 20) -> Path:
    """Download `url` to `dest` and verify its md5; return `dest`.

    Up to `retries` further attempts after the first, each resuming the partial file after a
    pause of backoff·2^attempt seconds (at most 60). A file already at `dest` is checked, not
    fetched again. A wrong md5 deletes the partial file and raises ChecksumError.
    """
    dest = Path(dest)
    if dest.exists():
        _verified(dest, md5, url, delete=False)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = partial_path(dest)
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, partial, timeout, chunk)
            break
        except (IncompleteDownload, requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError, urllib3.exceptions.HTTPError) as error:
            if attempt == retries:
                raise IncompleteDownload(
                    f"{url}: download failed after {retries + 1} attempts ({error}); the partial file "
                    f"{partial} is kept and the next run resumes it"
                ) from error
            time.sleep(min(backoff * 2**attempt, 60.0))
    _verified(partial, md5, url, delete=True)
    os.replace(partial, dest)
    return dest
