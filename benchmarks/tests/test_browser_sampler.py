"""benchmarks/browser_sampler.py: the scores it reports, on exact small cases (the browser parts
run in `make browser-check`'s environment and are exercised by tests/browser/check_live.py)."""

import math
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1]))
import browser_sampler  # noqa: E402


def test_mean_se():
    mean, se = browser_sampler.mean_se([1.0, 2.0, 3.0, 6.0])
    assert mean == 3.0 and se == pytest.approx(math.sqrt(14 / 3) / 2)


def test_scores_count_only_what_follows_the_prompt():
    known = {"to", "be"}
    texts = ["ROMEO: to be xq", "JULIET: abababab"]  # the prompts' own words never count
    out = browser_sampler.scores(texts, ["ROMEO:", "JULIET:"], known)
    assert out["real_words"] == browser_sampler.mean_se([2 / 3, 0.0])
    # " abababab": 6 four-grams, " aba" "abab" "baba" "abab" "baba" "abab": the last 3 repeat earlier ones
    assert out["repeated_4grams"] == browser_sampler.mean_se([0.0, 3 / 6])
