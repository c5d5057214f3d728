import pytest
import torch

from seqkit.data.batch import pad_chars
from seqkit.nn.char_encoder import CharCNN, CharLSTM, ConcatCharEncoder, build_char_encoder

NUM_CHARS = 20
# two sentences of different length, words of different length: padding in both the char and token dims
SENTENCES = [[[3, 4, 5], [6, 7], [8, 9, 10, 11, 12, 13]], [[14], [15, 16, 17, 18]]]


def encoders():
    torch.manual_seed(0)
    return [
        CharCNN(NUM_CHARS, embedding_dim=8, num_filters=6),
        CharCNN(NUM_CHARS, embedding_dim=8, num_filters=6, kernel_size=5),
        CharLSTM(NUM_CHARS, embedding_dim=8, hidden_size=5, dropout=0.3),
    ]


def both():
    """cnn+lstm, as a config names it."""
    torch.manual_seed(0)
    return build_char_encoder(
        "cnn+lstm", NUM_CHARS, cnn={"embedding_dim": 8, "num_filters": 6}, lstm={"embedding_dim": 4, "hidden_size": 5}
    )


ALL, ALL_IDS = [*encoders(), both()], ["cnn", "cnn-k5", "lstm", "cnn+lstm"]


@pytest.mark.parametrize("encoder", ALL, ids=ALL_IDS)
def test_shape_and_output_dim(encoder):
    chars, lengths = pad_chars(SENTENCES)
    out = encoder(chars, lengths)
    assert chars.shape == (2, 3, 6)
    assert out.shape == (2, 3, encoder.output_dim)
    assert out.dtype == torch.float32


def test_output_dims():
    assert CharCNN(NUM_CHARS, num_filters=50).output_dim == 50
    assert CharLSTM(NUM_CHARS, hidden_size=25).output_dim == 50


@pytest.mark.parametrize("encoder", ALL, ids=ALL_IDS)
def test_word_alone_equals_word_in_padded_batch(encoder):
    encoder.eval()
    chars, lengths = pad_chars(SENTENCES)
    with torch.no_grad():
        batched = encoder(chars, lengths)
        for i, sentence in enumerate(SENTENCES):
            for j, word in enumerate(sentence):
                alone = encoder(torch.tensor([[word]]), torch.tensor([[len(word)]]))
                torch.testing.assert_close(batched[i, j], alone[0, 0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("encoder", ALL, ids=ALL_IDS)
def test_padded_tokens_are_zero(encoder):
    chars, lengths = pad_chars(SENTENCES)
    out = encoder(chars, lengths)
    assert lengths[1, 2] == 0
    assert torch.equal(out[1, 2], torch.zeros(encoder.output_dim))
    assert out[0].abs().sum(-1).gt(0).all()


@pytest.mark.parametrize("encoder", ALL, ids=ALL_IDS)
def test_all_padding_gives_zeros(encoder):
    out = encoder(torch.zeros(2, 3, 4, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    assert torch.equal(out, torch.zeros(2, 3, encoder.output_dim))


@pytest.mark.parametrize("encoder", encoders(), ids=["cnn", "cnn-k5", "lstm"])
def test_gradients_reach_char_embedding(encoder):
    encoder.train()
    chars, lengths = pad_chars(SENTENCES)
    encoder(chars, lengths).sum().backward()
    grad = encoder.embedding.weight.grad
    assert grad is not None
    assert grad[3:19].abs().sum() > 0  # the characters used
    assert torch.equal(grad[0], torch.zeros_like(grad[0]))  # padding char never learns


def test_build_char_encoder():
    assert build_char_encoder("none", NUM_CHARS) is None
    cnn = build_char_encoder("cnn", NUM_CHARS, num_filters=7)
    assert isinstance(cnn, CharCNN) and cnn.output_dim == 7
    lstm = build_char_encoder("lstm", NUM_CHARS, hidden_size=4)
    assert isinstance(lstm, CharLSTM) and lstm.output_dim == 8
    with pytest.raises(ValueError, match="unknown char encoder"):
        build_char_encoder("gru", NUM_CHARS)


def test_cnn_and_lstm_side_by_side_give_both_vectors_and_both_learn():
    encoder = both()
    cnn, lstm = encoder.encoders["cnn"], encoder.encoders["lstm"]
    assert isinstance(encoder, ConcatCharEncoder) and isinstance(cnn, CharCNN) and isinstance(lstm, CharLSTM)
    assert encoder.output_dim == 6 + 2 * 5 == cnn.output_dim + lstm.output_dim
    chars, lengths = pad_chars(SENTENCES)
    encoder.eval()
    with torch.no_grad():  # the CNN's vector, then the LSTM's
        torch.testing.assert_close(encoder(chars, lengths), torch.cat([cnn(chars, lengths), lstm(chars, lengths)], -1))
    encoder.train()
    encoder(chars, lengths).sum().backward()
    for part in (cnn, lstm):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    assert cnn.embedding.weight is not lstm.embedding.weight  # each its own character embedding


def test_cnn_and_lstm_options_go_under_each_name():
    with pytest.raises(ValueError, match=r"\+\+model.char.cnn.num_filters=4, not model.char.num_filters$"):
        build_char_encoder("cnn+lstm", NUM_CHARS, num_filters=4)
    with pytest.raises(ValueError, match=r"\+\+model.char.lstm.hidden_size=3, not"):
        build_char_encoder("cnn+lstm", NUM_CHARS, hidden_size=3)
    with pytest.raises(ValueError, match="unknown char encoder"):
        build_char_encoder("cnn+cnn", NUM_CHARS)
    assert list(build_char_encoder("lstm+cnn", NUM_CHARS).encoders) == ["lstm", "cnn"]


def test_even_kernel_rejected():
    with pytest.raises(ValueError, match="odd"):
        CharCNN(NUM_CHARS, kernel_size=4)
