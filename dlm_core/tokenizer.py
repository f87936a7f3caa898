"""Character-level tokenizer with a `[MASK]` token.

Every distinct character of the training text gets an id, in sorted order (nanoGPT's
`shakespeare_char` convention), and one extra id, the last, is `[MASK]`: the absorbing
state of the forward process. Tiny Shakespeare has 65 characters, so `[MASK]` is id 65.
The vocabulary is saved as JSON next to the weights: a model's ids only mean something with
the vocabulary it was trained with, and rebuilding it from another text would shift them all.

References: Karpathy, nanoGPT `data/shakespeare_char/prepare.py` (the character convention).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

MASK = "[MASK]"


class CharTokenizer:
    """Maps characters to ids and back; the id `len(chars)` is `[MASK]`."""

    def __init__(self, chars: list[str]):
        if len(set(chars)) != len(chars) or any(len(c) != 1 for c in chars):
            raise ValueError("a vocabulary must be a list of distinct single characters")
        self.chars = list(chars)
        self.stoi = {c: i for i, c in enumerate(self.chars)}
        self.mask_id = len(self.chars)

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + 1  # the characters, then [MASK]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and self.chars == other.chars

    def encode(self, text: str, hole: str | None = None) -> torch.Tensor:
        """Text -> LongTensor of ids. Unknown characters are an error, never `[MASK]`.
        With `hole`, that character stands for `[MASK]` (infill templates: "To be, or ___ to be")."""
        if hole is not None and hole in self.stoi:
            raise ValueError(f"the hole character {hole!r} is in the vocabulary; choose another one")
        stoi = self.stoi if hole is None else {**self.stoi, hole: self.mask_id}
        try:
            return torch.tensor([stoi[c] for c in text], dtype=torch.long)
        except KeyError:
            pos = next(i for i, c in enumerate(text) if c not in stoi)
            raise ValueError(f"character {text[pos]!r} at position {pos} is not in the vocabulary "
                             f"({len(self.chars)} characters of the training text); "
                             f"remove or replace it") from None

    def decode(self, ids, mask_char: str = "_") -> str:
        """Ids -> text, drawing `[MASK]` as `mask_char` (one character, so positions line up)."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        bad = next((i for i in ids if not 0 <= i <= self.mask_id), None)
        if bad is not None:
            raise ValueError(f"id {bad} is outside the vocabulary (0..{self.mask_id})")
        return "".join(mask_char if i == self.mask_id else self.chars[i] for i in ids)

    def save(self, path: str | Path) -> None:
        vocabulary = {"chars": self.chars, "mask_token": MASK, "mask_id": self.mask_id}
        Path(path).write_text(json.dumps(vocabulary, ensure_ascii=False, indent=1))

    @classmethod
    def load(cls, path: str | Path) -> CharTokenizer:
        path = Path(path)
        try:
            d = json.loads(path.read_text())
            tok = cls(d["chars"])
        except FileNotFoundError:
            raise FileNotFoundError(f"tokenizer file {path} not found") from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise ValueError(f"tokenizer file {path} is corrupt ({e}); re-save the checkpoint") from None
        if d.get("mask_id", tok.mask_id) != tok.mask_id:
            raise ValueError(f"tokenizer file {path} is inconsistent: mask_id != number of characters")
        return tok
