"""The character tokenizer: 65 characters + [MASK], exact round trips, clear errors."""

import json

import pytest
import torch

from conftest import SHAKESPEARE_CHARS
from dlm_core.tokenizer import CharTokenizer


def test_corpus_vocabulary(corpus):
    """Tiny Shakespeare has 65 characters; with [MASK] the vocabulary has 66 ids, [MASK] last."""
    tok = CharTokenizer.from_text(corpus)
    assert "".join(tok.chars) == SHAKESPEARE_CHARS
    assert tok.vocab_size == 66
    assert tok.mask_id == 65


def test_round_trip_whole_corpus(corpus):
    """decode(encode(text)) gives back the whole corpus, character for character."""
    tok = CharTokenizer.from_text(corpus)
    ids = tok.encode(corpus)
    assert ids.dtype == torch.long and ids.shape == (len(corpus),)
    assert int(ids.max()) < tok.mask_id  # clean text never contains [MASK]
    assert tok.decode(ids) == corpus


def test_ids_follow_sorted_order(tok):
    """Ids are positions in the sorted character list; [MASK] decodes as the mask character."""
    assert tok.encode("\n A").tolist() == [0, 1, 13]
    assert tok.decode([0, 65, 13], mask_char="#") == "\n#A"


def test_save_load_round_trip(tok, tmp_path):
    """A saved vocabulary loads back equal, with [MASK] in the same place."""
    tok.save(tmp_path / "tokenizer.json")
    loaded = CharTokenizer.load(tmp_path / "tokenizer.json")
    assert loaded == tok
    assert loaded.chars == tok.chars and loaded.mask_id == 65


def test_unknown_character_names_character_and_position(tok):
    """An unknown character is an error (never [MASK]) naming the character and where it is."""
    with pytest.raises(ValueError) as e:
        tok.encode("To be é")
    assert "'é'" in str(e.value) and "position 6" in str(e.value)


def test_hole_character_maps_to_mask(tok):
    """With hole='_', every '_' becomes [MASK] and every other character keeps its id."""
    ids = tok.encode("a__b", hole="_")
    assert ids.tolist() == [tok.stoi["a"], 65, 65, tok.stoi["b"]]
    assert "_" not in tok.stoi  # without hole= it is an unknown character
    with pytest.raises(ValueError, match="'_'"):
        tok.encode("a__b")


def test_hole_character_in_vocabulary_rejected(tok):
    """A hole character that is also a real character would be ambiguous: rejected."""
    with pytest.raises(ValueError, match="hole character 'e' is in the vocabulary"):
        tok.encode("the", hole="e")


def test_decode_rejects_ids_outside_vocabulary(tok):
    """Ids above [MASK] (or negative) are an error, not a silent wrong character."""
    for bad in (66, -1):
        with pytest.raises(ValueError, match=f"id {bad} is outside"):
            tok.decode([0, bad])


def test_duplicate_or_multi_character_vocabulary_rejected():
    """A vocabulary is a list of distinct single characters."""
    for chars in (["a", "a"], ["ab", "c"]):
        with pytest.raises(ValueError, match="distinct single characters"):
            CharTokenizer(chars)


@pytest.mark.parametrize("content", ["{not json", '{"mask_id": 3}', '["a", "b"]', '{"chars": ["a", "a"]}'])
def test_corrupt_tokenizer_file(tmp_path, content):
    """Unreadable JSON, a missing key, the wrong shape or a bad vocabulary: ValueError saying 'corrupt'."""
    path = tmp_path / "tokenizer.json"
    path.write_text(content)
    with pytest.raises(ValueError, match="corrupt"):
        CharTokenizer.load(path)


def test_inconsistent_mask_id(tmp_path):
    """A mask_id that is not the number of characters is reported, not trusted."""
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps({"chars": ["a", "b"], "mask_id": 5}))
    with pytest.raises(ValueError, match="inconsistent"):
        CharTokenizer.load(path)


def test_missing_tokenizer_file(tmp_path):
    """A missing file is FileNotFoundError naming the path."""
    with pytest.raises(FileNotFoundError, match="nope.json"):
        CharTokenizer.load(tmp_path / "nope.json")
