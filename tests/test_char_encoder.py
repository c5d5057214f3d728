import pytest
import torch

from seqkit.data.batch import pad_chars
from seqkit.nn.char_encoder import CharCNN, CharLSTM, build_char_encoder

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


@pytest.mark.parametrize("encoder", encoders(), ids=["cnn", "cnn-k5", "lstm"])
def test_shape_and_output_dim(encoder):
    chars, lengths = pad_chars(SENTENCES)
    out = encoder(chars, lengths)
    assert chars.shape == (2, 3, 6)
    assert out.shape == (2, 3, encoder.output_dim)
    assert out.dtype == torch.float32


def test_output_dims():
    assert CharCNN(NUM_CHARS, num_filters=50).output_dim == 50
    assert CharLSTM(NUM_CHARS, hidden_size=25).output_dim == 50


@pytest.mark.parametrize("encoder", encoders(), ids=["cnn", "cnn-k5", "lstm"])
def test_word_alone_equals_word_in_padded_batch(encoder):
    encoder.eval()
    chars, lengths = pad_chars(SENTENCES)
    with torch.no_grad():
        batched = encoder(chars, lengths)
        for i, sentence in enumerate(SENTENCES):
            for j, word in enumerate(sentence):
                alone = encoder(torch.tensor([[word]]), torch.tensor([[len(word)]]))
                torch.testing.assert_close(batched[i, j], alone[0, 0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("encoder", encoders(), ids=["cnn", "cnn-k5", "lstm"])
def test_padded_tokens_are_zero(encoder):
    chars, lengths = pad_chars(SENTENCES)
    out = encoder(chars, lengths)
    assert lengths[1, 2] == 0
    assert torch.equal(out[1, 2], torch.zeros(encoder.output_dim))
    assert out[0].abs().sum(-1).gt(0).all()


@pytest.mark.parametrize("encoder", encoders(), ids=["cnn", "cnn-k5", "lstm"])
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


def test_even_kernel_rejected():
    with pytest.raises(ValueError, match="odd"):
        CharCNN(NUM_CHARS, kernel_size=4)
