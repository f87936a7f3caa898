"""Scoring a model on a text (dlm_core/evaluate.py): exact answers on toy models, the
stratification of the draws, and an honest standard error."""

import math

import pytest
import torch

from conftest import UniformModel
from dlm_core import evaluate as ev
from dlm_core.evaluate import evaluate
from dlm_core.model import carry_over_unmasked

def test_replicate_times_are_stratified_per_replicate():
    """Each run of `strata` consecutive rows has one t in each of the strata."""
    t = ev.replicate_times(12, 4, torch.Generator().manual_seed(0)).view(3, 4)
    assert torch.equal(torch.ceil(t * 4).sort(dim=1).values, torch.arange(1, 5).float().expand(3, 4))


# --- evaluate() --------------------------------------------------------------------------

IDS = torch.randint(65, (40 * 16 + 5,), generator=torch.Generator().manual_seed(0))  # 40 windows of 16 + a tail


@pytest.mark.parametrize("draws", [1, 3])
def test_evaluate_uniform_model_any_order_is_exact(draws):
    """A model uniform over 65 characters scores exactly log2(65) bits/char with the any-order
    estimator, whatever the masks: the standard error is 0 (to float32 rounding)."""
    model = UniformModel(block_size=16).train()
    bpc, se = evaluate(model, IDS, torch.Generator().manual_seed(0), draws=draws)
    assert bpc == pytest.approx(math.log2(65), abs=1e-5)
    assert se < 1e-5
    assert model.training  # evaluate() puts the model back in the mode it found it in


def test_evaluate_uniform_causal_model_is_exact():
    """The twin's loss needs no masks: a uniform causal model scores exactly log2(65)."""
    bpc, se = evaluate(UniformModel(block_size=15, causal=True), IDS, torch.Generator(), draws=4)
    assert bpc == pytest.approx(math.log2(65), abs=1e-5) and se < 1e-5


def test_evaluate_uniform_model_continuous_within_its_stderr():
    """The continuous estimator is noisy (the number of masks varies) but centred on log2(65),
    and evaluate() reports that noise in its standard error."""
    bpc, se = evaluate(UniformModel(block_size=16), IDS, torch.Generator().manual_seed(0),
                               draws=8, estimator="continuous")
    assert se > 0.01
    assert abs(bpc - math.log2(65)) < 5 * se


class UnigramModel(UniformModel):
    """Predicts the same fixed distribution p over the 65 characters at every masked position."""

    LOGP = torch.randn(65, generator=torch.Generator().manual_seed(0)).log_softmax(-1)

    def forward(self, xt):
        logits = torch.cat([self.LOGP, torch.tensor([-math.inf])]).expand(*xt.shape, 66)
        return carry_over_unmasked(logits, xt, 65)


def test_evaluate_mean_and_standard_error_exactly():
    """On windows made of one repeated character c, every mask gives the same estimate -log2 p(c).
    Scoring every window, nothing is random: the error is 0. Scoring a random subset of windows,
    the error is the spread of the chosen windows' values over sqrt(their number)."""
    chars = torch.tensor([0, 1, 2, 0, 1, 2, 5, 5, 7, 9])
    ids = chars.repeat_interleave(16)  # 10 windows of 16
    per_window = -UnigramModel.LOGP[chars].double() / math.log(2)
    bpc, se = evaluate(UnigramModel(block_size=16), ids, torch.Generator().manual_seed(0), draws=2)
    assert bpc == pytest.approx(per_window.mean().item(), abs=1e-5)
    assert se == pytest.approx(0.0, abs=1e-6)
    chosen = per_window[torch.randperm(10, generator=torch.Generator().manual_seed(0))[:5]]
    bpc, se = evaluate(UnigramModel(block_size=16), ids, torch.Generator(), draws=2, max_windows=5)
    assert bpc == pytest.approx(chosen.mean().item(), abs=1e-5)
    assert se == pytest.approx(chosen.std().item() / math.sqrt(5), abs=1e-5)


def test_evaluate_error_is_the_spread_within_windows(monkeypatch):
    """With every window scored, the standard error is sqrt(sum of within-window variances / draws) / windows."""
    nats = torch.tensor([[1.0, 3.0], [2.0, 2.0], [0.0, 4.0]])  # 3 windows x 2 draws
    monkeypatch.setattr(ev, "loss_per_sequence", lambda model, x, generator, **kw: nats.flatten())
    bpc, se = evaluate(UniformModel(block_size=16), torch.zeros(48, dtype=torch.long),
                               torch.Generator(), draws=2, batch_size=64)
    bits = nats.double() / math.log(2)
    assert bpc == pytest.approx(bits.mean().item())
    assert se == pytest.approx(math.sqrt(bits.var(dim=1).sum().item() / 2) / 3)


class LeftCopyModel(UniformModel):
    """Where the left neighbour is visible, predicts that character with probability 0.9; elsewhere
    uniform. Its loss depends strongly on how many characters are masked, in opposite directions
    on text made of runs of a repeated character (visible neighbours help) and on random text
    (they mislead)."""

    def forward(self, xt):
        left = torch.cat([torch.full_like(xt[:, :1], 65), xt[:, :-1]], dim=1)  # (B, T)
        logits = torch.zeros(*xt.shape, 66)
        logits[..., 65] = -math.inf
        copy = logits.scatter(-1, left.clamp(max=64).unsqueeze(-1), math.log(0.9 / (0.1 / 64)))
        return carry_over_unmasked(torch.where((left != 65).unsqueeze(-1), copy, logits), xt, 65)


def _over_seeds(model, ids, seeds, **kwargs):
    """evaluate() repeated with seeds 0..seeds-1: the mean estimate, its own standard error, the
    spread of the estimates, and the root-mean-square of the reported standard errors."""
    runs = torch.tensor([evaluate(model, ids, torch.Generator().manual_seed(s), **kwargs)
                         for s in range(seeds)])
    return runs[:, 0].mean().item(), runs[:, 0].std().item() / math.sqrt(seeds), runs[:, 0].std().item(), \
        runs[:, 1].pow(2).mean().sqrt().item()


def _independent_times(rows, strata, generator):
    """The scheme evaluate() does not use: an independent uniform time for every draw."""
    return 1 - torch.rand(rows, generator=generator)


@pytest.mark.slow
def test_evaluate_is_unbiased_and_its_error_is_honest(monkeypatch):
    """Stratified times lower the variance against independent ones, but must neither bias the
    mean nor misreport the error. Blocks of 8 run windows alternate with 8 random ones, so a
    scheme that gave a window's draws a band of times set by its place in the batch would be
    badly biased (measured: about +1 bit). Both schemes must agree, and each reported standard
    error must match the spread over 100 seeds (itself measured to about 10%)."""
    g = torch.Generator().manual_seed(0)
    runs = torch.randint(65, (16,), generator=g).repeat_interleave(8)  # 8 windows of 16
    noise = torch.randint(65, (128,), generator=g)  # 8 windows of 16
    ids, model = torch.cat([runs, noise] * 3), LeftCopyModel(block_size=16)
    stratified = _over_seeds(model, ids, 100, draws=4)
    monkeypatch.setattr(ev, "replicate_times", _independent_times)
    independent = _over_seeds(model, ids, 100, draws=4)
    assert abs(stratified[0] - independent[0]) < 4 * math.hypot(stratified[1], independent[1])
    for _, _, spread, reported in (stratified, independent):
        assert 0.75 < spread / reported < 1.33
    assert stratified[2] < 0.85 * independent[2]  # stratifying pays


class TimesModel(UniformModel):
    """A uniform model that records how many characters of each row are masked."""

    def __init__(self):
        super().__init__(block_size=16)
        self.masked = []

    def forward(self, xt):
        self.masked.append((xt == 65).sum(dim=1))
        return super().forward(xt)


@pytest.mark.parametrize("draws, strata", [(8, 4), (4, 2), (3, 1), (1, 1)])
def test_evaluate_stratifies_each_window_in_two_replicates(draws, strata):
    """A window's draws form replicates (2 when draws is even, else one per draw), and each
    replicate has one mask time in each of its strata: with k = ceil(t T) masks, k lies in a
    different quarter (strata = 4) of 1..T for each of a replicate's 4 rows."""
    model = TimesModel()
    evaluate(model, IDS, torch.Generator().manual_seed(0), draws=draws, estimator="any-order")
    k = torch.cat(model.masked).view(40, draws // strata, strata)  # (windows, replicates, strata)
    stratum = torch.div((k - 1) * strata, 16, rounding_mode="floor")  # 0..strata-1
    assert torch.equal(stratum.sort(dim=2).values, torch.arange(strata).expand_as(stratum))


class CountingModel(UniformModel):
    """A uniform model that records the batch size of every call."""

    def __init__(self):
        super().__init__(block_size=16)
        self.rows = []

    def forward(self, xt):
        self.rows.append(xt.shape[0])
        return super().forward(xt)


@pytest.mark.parametrize("max_windows, expected", [(None, 40), (10, 10), (100, 40)])
def test_evaluate_windows_draws_and_batches(max_windows, expected):
    """evaluate() reads each (at most max_windows) window `draws` times, in batches of at most batch_size rows."""
    model = CountingModel()
    evaluate(model, IDS, torch.Generator(), draws=3, max_windows=max_windows, batch_size=8)
    assert sum(model.rows) == 3 * expected
    assert max(model.rows) <= 8
