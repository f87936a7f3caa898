"""Tiny Shakespeare: finding the file, splitting it, and drawing batches of windows.

`load()` looks for the corpus at an explicit `path`, then `DLM_DATA`, then in the user cache,
and finally downloads it once. Whatever it finds is checked against the corpus's SHA-256, so
every number in the course is computed on exactly the same 1,115,394 characters. The split is
nanoGPT's (the first 90% trains, the last 10% validates), so bits per character here can be
compared with theirs.

References: Karpathy, char-rnn (the corpus); nanoGPT `data/shakespeare_char/prepare.py`.
"""

from __future__ import annotations

import hashlib
import os
import urllib.request
from pathlib import Path

import torch

URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
TRAIN_FRACTION = 0.9


def cache_path() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return root / "dlm-course" / "tinyshakespeare.txt"


def _check_sha(data: bytes, where: str) -> None:
    digest = hashlib.sha256(data).hexdigest()
    if digest != SHA256:
        raise ValueError(f"{where} is not Tiny Shakespeare: its SHA-256 is {digest[:12]}..., "
                         f"expected {SHA256[:12]}...; delete it and download the corpus again from {URL}")


def _download(dest: Path) -> None:
    try:
        with urllib.request.urlopen(URL, timeout=30) as r:
            data = r.read()
    except OSError as e:
        raise FileNotFoundError(f"Tiny Shakespeare is not on this machine and downloading it failed ({e}). "
                                f"Download {URL} by hand, then pass its path (load(path=...), --data PATH) "
                                f"or set DLM_DATA=/path/to/tinyshakespeare.txt") from None
    _check_sha(data, f"the file downloaded from {URL}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_suffix(".part")
    tmp.write_bytes(data)
    os.replace(tmp, dest)  # atomic: a half-written file never looks like the corpus


def load(path: str | Path | None = None) -> str:
    """Return the text of Tiny Shakespeare, downloading it once if it is nowhere local."""
    if path is None and os.environ.get("DLM_DATA"):
        path = os.environ["DLM_DATA"]
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"data file {path} does not exist (check the path or DLM_DATA)")
    else:
        path = cache_path()
        if not path.is_file():
            _download(path)
    data = path.read_bytes()
    _check_sha(data, str(path))
    return data.decode("utf-8")


def split(text: str, train_fraction: float = TRAIN_FRACTION) -> tuple[str, str]:
    """The nanoGPT split: the first 90% of characters train, the rest validate."""
    n = int(train_fraction * len(text))
    return text[:n], text[n:]


def get_batch(data: torch.Tensor, batch_size: int, block_size: int,
              generator: torch.Generator) -> torch.Tensor:
    """`batch_size` random windows of `block_size` ids from the 1-D tensor `data`: (B, T).

    All windows are gathered with one indexing operation: an offset per window plus
    `arange(T)`; a Python loop over windows is measurably slower on small models.
    """
    if len(data) < block_size:
        raise ValueError(f"the text has {len(data)} characters, fewer than one window of {block_size}")
    starts = torch.randint(len(data) - block_size + 1, (batch_size, 1), generator=generator)  # (B, 1)
    return data[starts + torch.arange(block_size)]  # (B, T)


def windows(data: torch.Tensor, block_size: int) -> torch.Tensor:
    """Cut `data` into consecutive non-overlapping windows (the tail that does not fill one is dropped)."""
    n = len(data) // block_size
    if n == 0:
        raise ValueError(f"the text has {len(data)} characters, fewer than one window of {block_size}")
    return data[: n * block_size].view(n, block_size)  # (N, T)
