"""The reverse process: what is given stays, every hole is filled, reveals follow the maths.

The model is an untrained `tiny` denoiser whose output layer is scaled up, so that its
predictions are far from uniform and differ from position to position. Most checks
*replay* a run: `Samples.frame(j - 1)` is the canvas the model saw at step j, so feeding
it to the model again must explain what was revealed at step j.
"""

import math

import pytest
import torch

from conftest import tiny_config
from dlm_core.model import Denoiser
from dlm_core import masking
from dlm_core.sampler import (choice_noise, draw, filter_logits, generate, make_canvas, reveal_ancestral,
                              reveal_confidence, sample)


VARIANTS = [("ancestral", None), ("confidence", None), ("ancestral", 8), ("confidence", 8)]


@pytest.mark.parametrize("strategy, block_length", VARIANTS)
@pytest.mark.parametrize("given", [dict(prompt="ROMEO:", length=32), dict(template="To be, or ___ to be, ___ is _")])
def test_given_characters_stay_and_every_hole_is_filled(model, tok, strategy, block_length, given):
    """Prompt / template characters never change (revealed at step 0, confidence 1); no [MASK] is left."""
    canvas = make_canvas(tok, **given)
    out = sample(model, tok, steps=8, strategy=strategy, block_length=block_length, n_samples=3, seed=0, **given)
    holes = canvas == tok.mask_id
    assert out.ids.shape == (3, len(canvas)) and out.steps == 8
    assert torch.all(out.ids[:, ~holes] == canvas[~holes])
    assert torch.all(out.revealed_at[:, ~holes] == 0) and torch.all(out.confidence[:, ~holes] == 1)
    assert not torch.any(out.ids == tok.mask_id)
    assert torch.all((out.revealed_at[:, holes] >= 1) & (out.revealed_at[:, holes] <= 8))
    assert out.texts == [tok.decode(row) for row in out.ids]
    if "prompt" in given:
        assert all(text.startswith("ROMEO:") for text in out.texts)


@pytest.mark.parametrize("strategy, block_length", VARIANTS)
def test_seed_determines_the_output(model, tok, strategy, block_length):
    """The same seed gives the same samples (texts, reveal order, confidences); another seed differs."""
    kw = dict(length=32, steps=8, strategy=strategy, block_length=block_length, n_samples=2)
    a, b, c = sample(model, tok, seed=1, **kw), sample(model, tok, seed=1, **kw), sample(model, tok, seed=2, **kw)
    assert a.texts == b.texts
    assert torch.equal(a.revealed_at, b.revealed_at) and torch.equal(a.confidence, b.confidence)
    assert a.texts != c.texts


def test_n_samples(model, tok):
    """n_samples gives that many texts, drawn independently (they differ from each other)."""
    out = sample(model, tok, length=32, steps=4, n_samples=5, seed=0)
    assert len(out.texts) == 5 and out.ids.shape == (5, 32)
    assert len(set(out.texts)) == 5


def test_frames_run_from_canvas_to_result(model, tok):
    """frame(0) is the starting canvas, frame(steps) the final text, and masks only ever disappear."""
    out = sample(model, tok, prompt="KING", length=24, steps=6, n_samples=2, seed=0)
    assert torch.equal(out.frame(0), make_canvas(tok, 24, "KING").repeat(2, 1))
    assert torch.equal(out.frame(out.steps), out.ids)
    for j in range(1, out.steps + 1):
        before, after = out.frame(j - 1), out.frame(j)
        still = before != tok.mask_id
        assert torch.equal(after[still], before[still])  # once revealed, fixed


def replay_probs(model, frame, temperature, top_k, top_p):
    """The distribution the sampler drew from when the canvas was `frame`."""
    logits = filter_logits(model(frame).float(), top_k, top_p)
    return logits.softmax(-1) if temperature == 0 else (logits / temperature).softmax(-1), logits


@pytest.mark.parametrize("temperature, top_k, top_p, greedy", [
    (0.0, None, None, True), (1.0, None, None, False), (1.0, 1, None, True), (0.7, None, 0.9, False)])
def test_replay_explains_every_reveal(model, tok, temperature, top_k, top_p, greedy):
    """At step j the model saw frame(j-1): each revealed character has the recorded probability under
    that prediction (nonzero, so inside top-k / top-p), and is its argmax when sampling is greedy
    (temperature 0, or top_k = 1)."""
    out = sample(model, tok, length=32, steps=8, n_samples=4, seed=3,
                 temperature=temperature, top_k=top_k, top_p=top_p)
    for j in range(1, out.steps + 1):
        probs, logits = replay_probs(model, out.frame(j - 1), temperature, top_k, top_p)
        now = out.revealed_at == j
        p_revealed = probs.gather(-1, out.ids.unsqueeze(-1)).squeeze(-1)[now]
        assert torch.allclose(out.confidence[now], p_revealed, atol=1e-6)
        assert torch.all(p_revealed > 0)
        if greedy:
            assert torch.equal(out.ids[now], logits.argmax(-1)[now])


def test_greedy_is_independent_of_the_seed(model, tok):
    """Temperature 0 with confidence remasking involves no randomness: every seed gives the same text."""
    kw = dict(length=32, steps=8, strategy="confidence", temperature=0.0)
    assert sample(model, tok, seed=0, **kw).texts == sample(model, tok, seed=123, **kw).texts


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_ancestral_reveal_times_follow_the_schedule(model, tok, schedule):
    """Ancestral sampling reveals a masked position from t to s with probability (alpha_s - alpha_t) / (1 - alpha_t),
    so a position is revealed at step j with probability alpha(s_j) - alpha(t_j) (1/steps for linear).
    Checked on 256 x 32 positions, each count within 5 standard errors."""
    steps, n = 8, 256 * 32
    out = sample(model, tok, length=32, steps=steps, n_samples=256, schedule=schedule, seed=0)
    counts = torch.bincount(out.revealed_at.flatten(), minlength=steps + 1)[1:]
    a = (lambda t: 1 - t) if schedule == "linear" else (lambda t: 1 - math.sin(math.pi / 2 * t))
    for j in range(1, steps + 1):
        p = a(1 - j / steps) - a(1 - (j - 1) / steps)
        assert abs(counts[j - 1].item() - n * p) < 5 * math.sqrt(n * p * (1 - p)), (j, counts.tolist())


@pytest.mark.parametrize("steps, per_step", [(4, [8, 8, 8, 8]), (5, [6, 7, 6, 7, 6])])
def test_confidence_reveals_a_fixed_number_of_most_confident(model, tok, steps, per_step):
    """Confidence remasking leaves round(32 (1 - alpha_s)) of 32 masks after each step: with 5 steps
    26, 19, 13, 6, 0 masks, so 6, 7, 6, 7, 6 reveals. The revealed positions are the masked ones the
    model is most sure of."""
    out = sample(model, tok, length=32, steps=steps, n_samples=3, strategy="confidence", temperature=0.0, seed=0)
    for j in range(1, steps + 1):
        now = out.revealed_at == j
        assert now.sum(dim=1).tolist() == [per_step[j - 1]] * 3
        probs, _ = replay_probs(model, out.frame(j - 1), 0.0, None, None)
        conf = probs.max(-1).values
        later = out.revealed_at > j  # still masked after step j
        for b in range(3):
            if later[b].any():
                assert conf[b][now[b]].min() >= conf[b][later[b]].max() - 1e-6


def test_reveal_ancestral_by_hand():
    """From alpha_t = 0.25 to alpha_s = 0.625 a masked position is revealed with probability
    (0.625 - 0.25) / 0.75 = 0.5; at the last step (alpha_s = 1) with probability 1. Positions that are
    not active are never revealed."""
    active = torch.zeros(4, 50_000, dtype=torch.bool)
    active[:, ::2] = True  # every other position is masked
    gen = torch.Generator().manual_seed(0)
    reveal = reveal_ancestral(active, 0.625, 0.25, gen)
    n = active.sum().item()
    assert not reveal[~active].any()
    assert abs(reveal.sum().item() - n / 2) < 5 * math.sqrt(n / 4)
    assert torch.equal(reveal_ancestral(active, 1.0, 0.25, gen), active)
    assert torch.equal(reveal_ancestral(active, 1.0, 0.0, gen), active)  # one step from t = 1 to 0


def test_reveal_confidence_by_hand():
    """Of 5 masked positions, alpha_s = 0.4 leaves round(5 * 0.6) = 3 masked, so the 2 most confident
    are revealed; alpha_s = 0.6 leaves 2, so 3 are revealed and a tie is broken by position, left first.
    An inactive position is never revealed, however confident."""
    conf = torch.tensor([[0.9, 0.5, 0.5, 0.7, 0.5, 1.0]])
    active = torch.tensor([[True, True, True, True, True, False]])
    n_masked0 = torch.tensor([5])
    assert reveal_confidence(active, conf, n_masked0, 0.4).nonzero()[:, 1].tolist() == [0, 3]
    assert reveal_confidence(active, conf, n_masked0, 0.6).nonzero()[:, 1].tolist() == [0, 1, 3]
    assert reveal_confidence(active, conf, n_masked0, 1.0).nonzero()[:, 1].tolist() == [0, 1, 2, 3, 4]
    # 300 equal confidences, half revealed: the left half, whatever order an unstable sort would give
    ties = torch.ones(1, 300, dtype=torch.bool)
    reveal = reveal_confidence(ties, torch.full((1, 300), 0.5), torch.tensor([300]), 0.5)
    assert reveal.nonzero()[:, 1].tolist() == list(range(150))
    # the count is per row, against the masks the block started with: here 2 of 4 are already revealed
    conf2 = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    active2 = torch.tensor([[True, True, False, False], [True, True, True, True]])
    reveal = reveal_confidence(active2, conf2, torch.tensor([4, 4]), 0.75)  # leave round(4 * 0.25) = 1
    assert reveal.tolist() == [[False, True, False, False], [True, True, True, False]]


def test_choice_noise_of_scale_one_picks_in_proportion_to_confidence():
    """Ranking log-confidence plus Gumbel noise of scale 1 is the Gumbel-max trick again: the position
    revealed first is drawn with probability conf / sum(conf). With a huge scale the choice ignores the
    confidences (uniform); with none it is the most confident, always. 100,000 rows, 5 standard errors."""
    n, conf = 100_000, torch.tensor([0.5, 0.25, 0.15, 0.1])
    active, n_masked0 = torch.ones(n, 4, dtype=torch.bool), torch.full((n,), 4)
    gen = torch.Generator().manual_seed(0)
    for scale, expected in ((1.0, conf / conf.sum()), (1e4, torch.full((4,), 0.25)), (0.0, torch.tensor([1.0, 0, 0, 0]))):
        reveal = reveal_confidence(active, conf.expand(n, 4), n_masked0, 0.25, choice_noise((n, 4), scale, gen, "cpu"))
        assert torch.all(reveal.sum(dim=1) == 1)  # round(4 * 0.75) = 3 stay masked
        freq = reveal.float().mean(dim=0)
        assert torch.all((freq - expected).abs() <= 5 * torch.sqrt(expected * (1 - expected) / n) + 1e-9), (scale, freq)


def test_choice_noise_keeps_the_number_revealed_per_step(model, tok):
    """Choice noise changes which positions confidence decoding reveals, not how many: 6, 7, 6, 7, 6
    of 32 in 5 steps, as without it; and the text now depends on the seed even at temperature 0."""
    kw = dict(length=32, steps=5, n_samples=3, strategy="confidence", temperature=0.0, choice_temperature=2.0)
    out = sample(model, tok, seed=0, **kw)
    for j, n in enumerate([6, 7, 6, 7, 6], start=1):
        assert (out.revealed_at == j).sum(dim=1).tolist() == [n] * 3
    assert out.texts != sample(model, tok, seed=1, **kw).texts


@pytest.mark.parametrize("temperature", [1.0, 0.0])
def test_hand_written_reverse_step_reproduces_sample(model, tok, temperature):
    """Chapter 7's reverse step, written out: guess everywhere with `draw`, then one uniform per position
    decides the reveals. Looped from t = 1 to 0 with the same seeded generator, it gives `sample`'s
    result exactly: the sampler draws its random numbers in this order and no other."""
    steps, gen = 8, torch.Generator().manual_seed(5)
    xt = make_canvas(tok, 32, "ROMEO:").repeat(2, 1)
    for j in range(steps):
        t, s = 1 - j / steps, 1 - (j + 1) / steps
        with torch.no_grad():
            x0_hat, _ = draw(model(xt).float(), temperature, gen)
        a_t, a_s = masking.alpha(t).item(), masking.alpha(s).item()
        u = torch.rand(xt.shape, generator=gen)
        xt = torch.where((xt == tok.mask_id) & (u < (a_s - a_t) / (1 - a_t)), x0_hat, xt)
    out = sample(model, tok, length=32, prompt="ROMEO:", steps=steps, n_samples=2, temperature=temperature, seed=5)
    assert torch.equal(out.ids, xt)


@pytest.mark.parametrize("strategy", ["ancestral", "confidence"])
def test_semi_autoregressive_blocks_fill_left_to_right(model, tok, strategy):
    """With block_length, block b is only touched after block b-1 is complete; blocks without holes
    are skipped and the steps are shared out among the others (here 8 steps over 3 blocks: 3, 3, 2)."""
    out = sample(model, tok, prompt="CORIOLANUS", length=32, steps=8, block_length=8,
                 strategy=strategy, n_samples=4, seed=0)
    r = out.revealed_at
    assert torch.all(r[:, :10] == 0)  # the prompt; block 0-8 has no hole and is skipped
    blocks = [r[:, 10:16], r[:, 16:24], r[:, 24:32]]
    for block, (lo, hi) in zip(blocks, [(1, 3), (4, 6), (7, 8)]):
        assert torch.all((block >= lo) & (block <= hi)), (lo, hi, block)


def test_draw_matches_the_softmax():
    """Gumbel-max draws are distributed as softmax(logits / temperature): 200,000 draws, 5 standard errors."""
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0, float("-inf")])
    n = 200_000
    for temperature in (1.0, 0.5):
        ids, probs = draw(logits.expand(1, n, 5), temperature, torch.Generator().manual_seed(0))
        p = (logits / temperature).softmax(-1)
        freq = torch.bincount(ids.flatten(), minlength=5) / n
        assert torch.all((freq - p).abs() <= 5 * torch.sqrt(p * (1 - p) / n))
        assert torch.allclose(probs, p[ids])
    ids, probs = draw(logits.expand(1, 10, 5), 0.0, torch.Generator())
    assert torch.all(ids == 0) and torch.allclose(probs, logits.softmax(-1)[0].expand(1, 10))


def test_filter_logits_by_hand():
    """top_k keeps the k largest; top_p keeps the smallest set of most likely characters reaching p."""
    probs = torch.tensor([0.15, 0.5, 0.05, 0.3])  # order: 1, 3, 0, 2
    logits = probs.log()
    kept = lambda **kw: torch.isfinite(filter_logits(logits, **kw)).nonzero().flatten().tolist()
    assert kept(top_k=2) == [1, 3]
    assert kept(top_k=10) == [0, 1, 2, 3]
    assert kept(top_p=0.45) == [1]          # 0.5 already reaches 0.45
    assert kept(top_p=0.7) == [1, 3]        # 0.5 < 0.7 <= 0.8
    assert kept(top_p=0.9) == [0, 1, 3]     # 0.8 < 0.9 <= 0.95
    assert kept(top_p=1.0) == [0, 1, 2, 3]
    assert kept(top_k=1, top_p=1.0) == [1]
    assert torch.equal(filter_logits(logits, top_p=0.7)[[1, 3]], logits[[1, 3]])  # kept logits unchanged


@pytest.mark.parametrize("kwargs, message", [
    (dict(prompt="ROMEO: and more", length=10), "prompt has 15 characters, more than length=10"),
    (dict(length=33), "length 33 is longer than the model's context \\(32\\)"),
    (dict(prompt="Romé", length=10), "'é' at position 3"),
    (dict(length=0), "length must be at least 1"),
    (dict(), "give a length"),
    (dict(template="a_b", prompt="x"), "either a prompt or an infill template"),
    (dict(template="a_b", length=5), "template has 3 characters but length=5"),
    (dict(length=8, steps=0), "steps must be a positive integer"),
    (dict(length=8, steps=2.5), "steps must be a positive integer"),
    (dict(length=8, steps=True), "steps must be a positive integer"),
    (dict(length=8, temperature=-0.1), "temperature must be >= 0"),
    (dict(length=8, top_k=0), "top_k must be >= 1"),
    (dict(length=8, top_p=0.0), "top_p must lie in \\(0, 1\\]"),
    (dict(length=8, top_p=1.5), "top_p must lie in \\(0, 1\\]"),
    (dict(length=8, strategy="random"), "unknown strategy 'random'"),
    (dict(length=8, block_length=0), "block_length must be >= 1"),
    (dict(length=8, strategy="confidence", choice_temperature=-1.0), "choice_temperature must be >= 0"),
    (dict(length=8, choice_temperature=1.0), "use it with strategy='confidence'"),
    (dict(length=32, block_length=4, steps=4), "steps=4 is fewer than the 8 blocks"),
])
def test_bad_inputs_rejected(model, tok, kwargs, message):
    """Every mistake is a ValueError that says what is wrong."""
    with pytest.raises(ValueError, match=message):
        sample(model, tok, **kwargs)


def test_hole_character_in_vocabulary_rejected(tok):
    """An infill hole that is also a real character would be ambiguous."""
    with pytest.raises(ValueError, match="hole character 'o' is in the vocabulary"):
        make_canvas(tok, template="To be", hole="o")


def test_causal_model_rejected(tok):
    """The autoregressive twin cannot run the diffusion sampler."""
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="causal=True"):
        sample(Denoiser(tiny_config(causal=True)), tok, length=8)


@pytest.fixture(scope="module")
def twin():
    """A tiny causal model with sharpened logits, like the `model` fixture."""
    torch.manual_seed(0)
    m = Denoiser(tiny_config(causal=True)).eval()
    with torch.no_grad():
        m.head.weight.mul_(30)
    return m


def test_generate_greedy_is_the_argmax_continuation(twin, tok):
    """At temperature 0 each new character is the argmax of a full causal pass over the text so far."""
    out = generate(twin, tok, length=20, prompt="ROMEO:", temperature=0)
    x = tok.encode("ROMEO:").unsqueeze(0)
    while x.shape[1] < 20:
        x = torch.cat([x, twin(x)[:, -1:].argmax(-1)], dim=1)
    assert out.texts == [tok.decode(x[0])]
    assert out.steps == 14 and out.revealed_at[0].tolist() == [0] * 6 + list(range(1, 15))


@pytest.mark.parametrize("kwargs", [dict(), dict(top_p=0.9), dict(top_k=5, temperature=0.7)])
def test_generate_with_and_without_cache_agree(twin, tok, kwargs):
    """The cache changes the work, not the text: the same seed writes the same characters."""
    fast = generate(twin, tok, length=32, n_samples=3, seed=4, **kwargs)
    slow = generate(twin, tok, length=32, n_samples=3, seed=4, use_cache=False, **kwargs)
    assert torch.equal(fast.ids, slow.ids)
    torch.testing.assert_close(fast.confidence, slow.confidence)
    assert len(set(fast.texts)) == 3  # the samples differ from each other
    assert all(text.startswith("\n") for text in fast.texts)


def test_generate_confidence_is_the_drawn_characters_probability(twin, tok):
    """With the cache, each recorded confidence is the probability a full causal pass gives the character."""
    out = generate(twin, tok, length=12, prompt="To", seed=1)
    probs = twin(out.ids[:, :-1]).softmax(-1)  # (1, 11, V): position i predicts i + 1
    expected = probs[0, 1:].gather(-1, out.ids[0, 2:, None]).squeeze(-1)
    torch.testing.assert_close(out.confidence[0, 2:], expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kwargs, message", [
    (dict(length=8, prompt=""), "needs a prompt of at least one character"),
    (dict(length=33), "length 33 is longer than the model's context \\(32\\)"),
    (dict(length=8, temperature=-1), "temperature must be >= 0"),
    (dict(length=8, top_p=2.0), "top_p must lie in"),
    (dict(length=8, top_k=0), "top_k must be >= 1"),
    (dict(length=8, prompt="héllo"), "'é'"),
    (dict(length=4, prompt="ROMEO"), "prompt has 5 characters, more than length=4"),
])
def test_generate_bad_inputs_rejected(twin, tok, kwargs, message):
    """generate() checks its arguments like sample() (the same messages)."""
    with pytest.raises(ValueError, match=message):
        generate(twin, tok, **kwargs)


def test_generate_refuses_a_denoiser(model, tok):
    with pytest.raises(ValueError, match="needs the autoregressive twin"):
        generate(model, tok, length=8)
