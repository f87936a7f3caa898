"""Cheap, automatic measures of generated text: real words, and repetition.

Once a sampler changes how it draws (confidence decoding, top-p, blocks: chapter 8), its
text is no longer an exact sample from the model, and the likelihood cannot judge it. These
proxies work on plain strings, so they apply to any sampler and to real text alike. Neither
says a text makes sense; they catch what is obviously wrong: invented words ("thoure",
`word_fraction`) and the loops of greedy and confidence decoding (`repeated_ngram_fraction`,
and `longest_run` for the crudest form, a stretch of one repeated character).

References: Holtzman et al. 2020 (repetition and degenerate text under greedy decoding).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

# A word: letters, with apostrophes allowed only between letters ("o'er", not "'tis" -> "tis").
WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")


def _as_list(texts: str | Iterable[str]) -> list[str]:
    """A single string is one text, not a sequence of one-character texts."""
    return [texts] if isinstance(texts, str) else list(texts)


def words(text: str) -> list[str]:
    """The words of `text`, lower-cased, in order: the units `word_fraction` looks up."""
    return [m.group().lower() for m in WORD.finditer(text)]


def vocabulary(text: str) -> set[str]:
    """The distinct words of `text` (of the training split: no credit for copying the validation text)."""
    return set(words(text))


def word_fraction(texts: str | Iterable[str], known_words: set[str]) -> float:
    """Share of all the words in `texts` that are in `known_words`, in [0, 1]: pooled, so a long
    text counts more than a short one, and 0 for texts without a single word. Real Shakespeare
    scores just under 1 (a window cuts words at its ends, and the validation split has words the
    training split lacks), so compare a sampler with real text of the same length, never with 1."""
    found = [w for text in _as_list(texts) for w in words(text)]
    if not found:
        return 0.0
    return sum(w in known_words for w in found) / len(found)


def repeated_ngram_fraction(texts: str | Iterable[str], n: int = 4) -> float:
    """Share of the character n-grams of `texts` (pooled) that repeat an earlier n-gram of the
    same text, in [0, 1). "abcabc" with n=3 has four 3-grams, abc bca cab abc: one repeats.
    Natural text repeats some ("the ", " and"), degenerate text ("the the the") far more. Only
    repeats within one text count: eight samples that each say "the " once do not repeat
    themselves. Texts shorter than n contribute nothing; with no n-gram at all the result is 0."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    total = repeated = 0
    for text in _as_list(texts):
        grams = [text[i: i + n] for i in range(len(text) - n + 1)]
        total += len(grams)
        repeated += len(grams) - len(set(grams))  # every occurrence after a gram's first
    return repeated / total if total else 0.0


def longest_run(text: str) -> int:
    """Length of the longest stretch of one repeated character ("aaab" -> 3; "" -> 0): a
    degenerate run such as "eeeeeeee" or a page of newlines shows up here at once."""
    return max((len(list(run)) for _, run in itertools.groupby(text)), default=0)
