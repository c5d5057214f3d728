"""Vocabulary (specials, frequency cut-offs, ordering, unknowns, serialisation) and Tokenizer."""

import io
import pickle

import pytest
import torch

from seqkit.data.tokenizer import Tokenizer
from seqkit.data.vocab import PAD, UNK, Vocabulary

SENTENCES = [
    ["the", "cat", "sat"],
    ["the", "dog", "sat", "down"],
    ["a", "cat", "ran"],
    ["the", "end"],
]
# counts: the 3, cat 2, sat 2, dog 1, down 1, a 1, ran 1, end 1; first seen: the cat sat dog down a ran end


def test_pad_is_0_and_unk_is_1():
    vocab = Vocabulary.build(SENTENCES)
    assert vocab.itos[:2] == [PAD, UNK] == ["<pad>", "<unk>"]
    assert vocab.index("<pad>") == 0 and vocab.index("<unk>") == 1 and vocab.unk_index == 1
    assert len(vocab) == 2 + 8


def test_other_specials_follow_pad_and_unk_and_are_not_duplicated():
    vocab = Vocabulary.build([["<s>", "x"]], specials=["<s>", "</s>", "<unk>"])
    assert vocab.itos == ["<pad>", "<unk>", "<s>", "</s>", "x"]


def test_most_frequent_first_and_ties_in_first_seen_order():
    vocab = Vocabulary.build(SENTENCES)
    assert vocab.itos[2:] == ["the", "cat", "sat", "dog", "down", "a", "ran", "end"]
    # the tie order follows first appearance, not the alphabet
    vocab = Vocabulary.build([["zeta", "alpha", "mid"], ["mid"]])
    assert vocab.itos[2:] == ["mid", "zeta", "alpha"]


def test_min_freq_drops_rare_tokens():
    vocab = Vocabulary.build(SENTENCES, min_freq=2)
    assert vocab.itos == ["<pad>", "<unk>", "the", "cat", "sat"]
    assert vocab.index("dog") == vocab.unk_index
    assert Vocabulary.build(SENTENCES, min_freq=4).itos == ["<pad>", "<unk>"]


def test_max_size_keeps_the_most_frequent():
    vocab = Vocabulary.build(SENTENCES, max_size=2)
    assert vocab.itos == ["<pad>", "<unk>", "the", "cat"]
    vocab = Vocabulary.build(SENTENCES, max_size=4)
    assert vocab.itos[2:] == ["the", "cat", "sat", "dog"]  # "dog" wins the 1-count tie: seen first
    # min_freq and max_size together: the cut-off first, then the cap
    assert Vocabulary.build(SENTENCES, min_freq=2, max_size=10).itos[2:] == ["the", "cat", "sat"]


def test_unknown_tokens_map_to_unk():
    vocab = Vocabulary.build(SENTENCES)
    assert vocab.encode(["the", "zebra", "cat", "THE"]) == [2, 1, 3, 1]
    assert "zebra" not in vocab and "the" in vocab
    assert vocab.decode([2, 1, 3]) == ["the", "<unk>", "cat"]


def test_without_unk_unknown_raises_key_error():
    labels = Vocabulary.build([["pos", "neg", "pos"]], unk=False, pad=False)
    assert labels.itos == ["pos", "neg"]
    assert labels.unk_index is None
    assert labels.index("neg") == 1
    with pytest.raises(KeyError):
        labels.index("neutral")
    with pytest.raises(KeyError):
        labels.encode(["pos", "neutral"])


def test_to_dict_from_dict_round_trip():
    vocab = Vocabulary.build(SENTENCES, min_freq=1, specials=["<s>"])
    state = vocab.to_dict()
    # plain Python only: survives a weights_only torch round trip, as in a checkpoint
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    restored = Vocabulary.from_dict(state)
    assert restored.itos == vocab.itos and restored.stoi == vocab.stoi
    assert restored.specials == ["<s>"] and restored.unk and restored.pad
    # a word <s> of text is unknown; index() gives the symbol's id
    assert restored.encode(["the", "zebra", "<s>"]) == vocab.encode(["the", "zebra", "<s>"]) == [3, 1, 1]
    assert restored.index("<s>") == vocab.index("<s>") == 2
    labels = Vocabulary(["neg", "pos"], unk=False, pad=False)
    back = Vocabulary.from_dict(pickle.loads(pickle.dumps(labels.to_dict())))
    assert back.itos == ["neg", "pos"]
    with pytest.raises(KeyError):
        back.index("other")


# ---- Tokenizer --------------------------------------------------------------------------------------------


def test_words_mode_splits_off_punctuation_and_keeps_contractions():
    tok = Tokenizer("words", lowercase=False)
    assert tok("Don't stop, it's GREAT!!") == ["Don't", "stop", ",", "it's", "GREAT", "!", "!"]
    assert tok("costs $5.99 (ok)") == ["costs", "$", "5", ".", "99", "(", "ok", ")"]


def test_whitespace_mode_keeps_pretokenised_text():
    tok = Tokenizer("whitespace", lowercase=False)
    assert tok("it 's  a\tfine , Film .") == ["it", "'s", "a", "fine", ",", "Film", "."]


def test_lowercase():
    assert Tokenizer("words", lowercase=True)("The CAT") == ["the", "cat"]
    assert Tokenizer("whitespace", lowercase=True)("The CAT") == ["the", "cat"]
    assert Tokenizer("words", lowercase=False)("The CAT") == ["The", "CAT"]
    assert Tokenizer()("The CAT!") == ["the", "cat", "!"]  # defaults: words, lowercase


def test_tokenizer_round_trip():
    for mode in ("words", "whitespace"):
        for lowercase in (True, False):
            tok = Tokenizer(mode, lowercase)
            again = Tokenizer.from_dict(tok.to_dict())
            assert again.to_dict() == {"mode": mode, "lowercase": lowercase}
            text = "It's A test , OK?"
            assert again(text) == tok(text)


def test_unknown_tokenizer_mode_raises():
    with pytest.raises(ValueError, match="spacy"):
        Tokenizer("spacy")
