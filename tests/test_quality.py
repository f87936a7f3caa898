"""dlm_core.quality: exact answers on texts small enough to count by hand."""

from __future__ import annotations

import pytest

from dlm_core import quality


def test_words_lowercases_and_keeps_inner_apostrophes():
    assert quality.words("To be, or NOT to be:\nthat") == ["to", "be", "or", "not", "to", "be", "that"]
    assert quality.words("O'er Romeo's 'tis lords' x3y") == ["o'er", "romeo's", "tis", "lords", "x", "y"]
    assert quality.words("") == []
    assert quality.words(" ,.!\n") == []


def test_vocabulary_is_the_set_of_words():
    assert quality.vocabulary("The cat; the CAT, a dog.") == {"the", "cat", "a", "dog"}


def test_word_fraction_pools_the_words_of_all_texts():
    known = {"to", "be", "or", "not"}
    assert quality.word_fraction("To be, or not to be", known) == 1.0
    assert quality.word_fraction("To bee, or nott", known) == 0.5          # to, or / bee, nott
    assert quality.word_fraction(["to xq", "be be be"], known) == 4 / 5   # pooled: 4 of 5 words
    assert quality.word_fraction(["to xq"], known) == 0.5


def test_word_fraction_of_text_without_words_is_zero():
    assert quality.word_fraction(["", "!!! ,,,"], {"to"}) == 0.0
    assert quality.word_fraction([], {"to"}) == 0.0


def test_a_single_string_is_one_text():
    assert quality.word_fraction("to", {"to"}) == 1.0  # not the characters "t" and "o"
    assert quality.repeated_ngram_fraction("abab", n=2) == quality.repeated_ngram_fraction(["abab"], n=2)


def test_repeated_ngram_fraction_by_hand():
    assert quality.repeated_ngram_fraction("abcabc", n=3) == 1 / 4      # abc bca cab abc
    assert quality.repeated_ngram_fraction("abcd", n=2) == 0.0           # ab bc cd
    assert quality.repeated_ngram_fraction("aaaaa", n=2) == 3 / 4        # aa aa aa aa
    assert quality.repeated_ngram_fraction("the the the ", n=4) == 5 / 9  # "the " at 0, 4, 8 ...
    assert quality.repeated_ngram_fraction("abab", n=1) == 2 / 4


def test_repeated_ngram_fraction_counts_repeats_within_a_text_only():
    assert quality.repeated_ngram_fraction(["abc", "abc"], n=3) == 0.0
    assert quality.repeated_ngram_fraction(["abab", "xyz"], n=2) == 1 / 5  # ab ba ab | xy yz


def test_repeated_ngram_fraction_short_texts_and_bad_n():
    assert quality.repeated_ngram_fraction(["ab", ""], n=4) == 0.0
    assert quality.repeated_ngram_fraction(["ab", "aaaaa"], n=4) == 1 / 2  # only "aaaaa" has 4-grams
    with pytest.raises(ValueError, match="n must be at least 1"):
        quality.repeated_ngram_fraction("abc", n=0)


def test_longest_run():
    assert quality.longest_run("") == 0
    assert quality.longest_run("a") == 1
    assert quality.longest_run("aaab") == 3
    assert quality.longest_run("abbbbcc\n\n\n") == 4
    assert quality.longest_run("abab") == 1
