"""Finding the corpus (path, DLM_DATA, cache, download), the 90/10 split, and batches."""

import urllib.request

import pytest
import torch

from dlm_core import data


def test_load_explicit_path(corpus_path, monkeypatch):
    """An explicit path is read (and checked) even when DLM_DATA is unset."""
    monkeypatch.delenv("DLM_DATA", raising=False)
    text = data.load(corpus_path)
    assert len(text) == 1_115_394
    assert text.startswith("First Citizen:\nBefore we proceed any further, hear me speak.")


def test_load_from_environment(corpus_path, monkeypatch):
    """With no path, DLM_DATA names the file."""
    monkeypatch.setenv("DLM_DATA", str(corpus_path))
    assert data.load() == data.load(corpus_path)


def test_sha_mismatch(tmp_path):
    """Any other text is rejected: every number in the course is computed on the same corpus."""
    other = tmp_path / "other.txt"
    other.write_text("Not Shakespeare at all.\n")
    with pytest.raises(ValueError, match="not Tiny Shakespeare"):
        data.load(other)


def test_missing_file(tmp_path, monkeypatch):
    """A path that does not exist is FileNotFoundError, both given directly and via DLM_DATA."""
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        data.load(tmp_path / "missing.txt")
    monkeypatch.setenv("DLM_DATA", str(tmp_path / "missing.txt"))
    with pytest.raises(FileNotFoundError, match="DLM_DATA"):
        data.load()


def test_offline_download_failure_says_how_to_supply_the_file(monkeypatch):
    """No file, empty cache, no network: FileNotFoundError explaining DLM_DATA and the URL."""
    monkeypatch.delenv("DLM_DATA", raising=False)
    assert not data.cache_path().exists()  # conftest points XDG_CACHE_HOME at an empty tmp dir
    with pytest.raises(FileNotFoundError) as e:
        data.load()
    message = str(e.value)
    assert "DLM_DATA" in message and data.URL in message and "network access is disabled" in message


class FakeResponse:
    def __init__(self, payload: bytes):
        self.payload = payload

    def read(self):
        return self.payload

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_download_is_cached_once(corpus_path, monkeypatch):
    """A successful download is checked, written to the cache, and not repeated."""
    monkeypatch.delenv("DLM_DATA", raising=False)
    calls = []

    def fake_urlopen(url, timeout=None):
        calls.append(url)
        return FakeResponse(corpus_path.read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    first = data.load()
    second = data.load()
    assert calls == [data.URL]
    assert first == second and len(first) == 1_115_394
    assert data.cache_path().read_bytes() == corpus_path.read_bytes()


def test_download_of_wrong_bytes_is_not_cached(monkeypatch):
    """A download with the wrong SHA-256 is rejected and leaves nothing in the cache."""
    monkeypatch.delenv("DLM_DATA", raising=False)
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: FakeResponse(b"<html>404</html>"))
    with pytest.raises(ValueError, match="not Tiny Shakespeare"):
        data.load()
    assert not data.cache_path().exists()


def test_split_sizes(corpus):
    """nanoGPT's split: the first 1,003,854 characters train, the last 111,540 validate."""
    train, val = data.split(corpus)
    assert (len(train), len(val)) == (1_003_854, 111_540)
    assert train + val == corpus


def test_get_batch_windows_are_substrings():
    """Every row of a batch is data[start:start+T] for some start; shape (B, T)."""
    ids = torch.randperm(1000, generator=torch.Generator().manual_seed(0))  # distinct: a row's first id finds its start
    x = data.get_batch(ids, batch_size=16, block_size=10, generator=torch.Generator().manual_seed(0))
    assert x.shape == (16, 10) and x.dtype == torch.long
    for row in x:
        start = int((ids == row[0]).nonzero())
        assert torch.equal(row, ids[start:start + 10])


def test_get_batch_rows_are_passages_of_the_corpus(corpus):
    """Decoded, each row of a batch of the training split is a passage of that text."""
    from dlm_core.tokenizer import CharTokenizer
    train_text, _ = data.split(corpus)
    tok = CharTokenizer.from_text(corpus)
    x = data.get_batch(tok.encode(train_text), 8, 64, torch.Generator().manual_seed(0))
    assert all(tok.decode(row) in train_text for row in x)


def test_get_batch_covers_both_ends():
    """Starts are uniform over 0..len-T: the first and the last window both occur."""
    ids = torch.arange(20)
    x = data.get_batch(ids, batch_size=2000, block_size=5, generator=torch.Generator().manual_seed(0))
    starts = x[:, 0]
    assert torch.equal(x, starts[:, None] + torch.arange(5))
    assert set(starts.tolist()) == set(range(16))


def test_get_batch_same_seed_same_batch():
    """The batch is a function of the generator's seed only."""
    ids = torch.randint(65, (5000,), generator=torch.Generator().manual_seed(1))
    a = data.get_batch(ids, 8, 32, torch.Generator().manual_seed(3))
    b = data.get_batch(ids, 8, 32, torch.Generator().manual_seed(3))
    c = data.get_batch(ids, 8, 32, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_get_batch_text_too_short():
    """A text shorter than one window is a clear error."""
    with pytest.raises(ValueError, match="fewer than one window"):
        data.get_batch(torch.arange(5), 2, 6, torch.Generator())


def test_windows_are_consecutive_and_drop_the_tail():
    """windows() cuts consecutive non-overlapping windows; the incomplete tail is dropped."""
    w = data.windows(torch.arange(23), 5)
    assert torch.equal(w, torch.arange(20).view(4, 5))
    with pytest.raises(ValueError, match="fewer than one window"):
        data.windows(torch.arange(4), 5)
