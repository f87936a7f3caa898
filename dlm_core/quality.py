"""Cheap, automatic measures of generated text: real words, and repetition.

A character-level model on Tiny Shakespeare cannot be judged by its likelihood alone once a
sampler has changed how it draws (chapter 8): confidence decoding, top-p and blocks are no
longer exact samples from the model, so their text needs measuring directly. Two proxies,
both computed on plain strings, so they apply to any sampler and to real text alike:

- `word_fraction(texts, known_words)`: the share of the words in the generated texts that
  occur in a word list, normally the words of the training split (`vocabulary(train_text)`).
  Invented words ("thoure", "kinge") lower it. Real Shakespeare scores just under 1 (a window
  cuts words at its ends, and the validation split has words the training split lacks), so
  compare a sampler with real text of the same length, never with 1.
- `repeated_ngram_fraction(texts, n=4)`: the share of the character n-grams of a text that
  repeat an n-gram seen earlier in the same text. Natural text repeats some ("the ", " and"),
  degenerate text ("the the the", long runs of one letter) repeats far more: the known
  failure mode of greedy and confidence decoding. `longest_run(text)` measures the crudest
  form of it, a stretch of one repeated character.

A word is a run of ASCII letters, possibly with apostrophes inside it ("o'er", "Romeo's"),
compared in lower case. Neither measure says a text makes sense; they catch what is
obviously wrong.

References: Holtzman et al. 2020 (repetition and degenerate text under greedy decoding).
"""

from __future__ import annotations

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
    """The set of distinct words of `text` (use the training split, so a sample earns no credit
    for copying the validation text)."""
    return set(words(text))


def word_fraction(texts: str | Iterable[str], known_words: set[str]) -> float:
    """Share of all the words in `texts` (pooled) that are in `known_words`, in [0, 1].

    Pooled, not averaged per text, so a long text counts more than a short one. A set of texts
    without a single word scores 0: nothing readable was produced."""
    found = [w for text in _as_list(texts) for w in words(text)]
    if not found:
        return 0.0
    return sum(w in known_words for w in found) / len(found)


def repeated_ngram_fraction(texts: str | Iterable[str], n: int = 4) -> float:
    """Share of the character n-grams of `texts` (pooled) that repeat an earlier n-gram of the
    same text, in [0, 1). "abcabc" with n=3 has four 3-grams, abc bca cab abc: one repeats.

    Only repeats within one text count: eight samples that each say "the " once do not repeat
    themselves. Texts shorter than n contribute nothing; with no n-gram at all the result is 0."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    total = repeated = 0
    for text in _as_list(texts):
        seen: set[str] = set()
        for i in range(len(text) - n + 1):
            gram = text[i: i + n]
            repeated += gram in seen
            seen.add(gram)
            total += 1
    return repeated / total if total else 0.0


def longest_run(text: str) -> int:
    """Length of the longest stretch of one repeated character ("aaab" -> 3; "" -> 0): a
    degenerate run such as "eeeeeeee" or a page of newlines shows up here at once."""
    best = run = 0
    for i, c in enumerate(text):
        run = run + 1 if i > 0 and c == text[i - 1] else 1
        best = max(best, run)
    return best
