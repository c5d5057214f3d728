"""seqkit.nn.lstm_inference: the looked-up-input LSTM that the classifier's predict runs equals nn.LSTM's packed path."""

import pytest
import torch

from seqkit.nn import RecurrentEncoder
from seqkit.nn.embedding import WordEmbedding
from seqkit.nn.lstm_inference import word_lstm_inference
from seqkit.nn.padding import lengths_to_mask
from seqkit.nn.pooling import SequencePooling
from seqkit.tasks.classification.network import ClassifierNetwork


def _batch(vocab: int, lengths):
    lengths = torch.tensor(lengths)
    tokens = torch.randint(2, vocab, (len(lengths), int(lengths.max()) + 2))  # extra padded columns too
    return tokens.masked_fill(~lengths_to_mask(lengths, tokens.size(1)), 0), lengths


@pytest.mark.parametrize("bidirectional", [True, False])
def test_outputs_and_max_pooling_equal_the_packed_lstm(bidirectional):
    torch.manual_seed(0)
    embedding, encoder = WordEmbedding(30, 6).eval(), RecurrentEncoder(6, 5, "lstm", bidirectional=bidirectional).eval()
    with torch.no_grad():
        for p in encoder.parameters():
            p.uniform_(-1, 1)  # large weights: saturated and unsaturated gates both matter
    tokens, lengths = _batch(30, [3, 7, 1, 7, 4, 2])  # unsorted, ties, a one-token sequence
    fast = word_lstm_inference(embedding, encoder, {})
    with torch.inference_mode():
        expected = encoder(embedding(tokens), lengths)[0]
        outputs = fast(tokens, lengths)
        pooled = SequencePooling("max", encoder.output_size, encoder.num_directions)(
            expected, lengths_to_mask(lengths, tokens.size(1)), lengths
        )
        assert outputs.shape == expected.shape
        torch.testing.assert_close(outputs, expected, atol=2e-6, rtol=0)
        assert (outputs[~lengths_to_mask(lengths, tokens.size(1))] == 0).all()
        torch.testing.assert_close(fast.max_pooled(tokens, lengths), pooled, atol=2e-6, rtol=0)


def test_predict_uses_it_and_follows_weight_changes():
    torch.manual_seed(1)
    network = ClassifierNetwork(
        vocab_size=25,
        num_classes=3,
        embedding_dim=6,
        pooling="max",
        backbone={"cell": "lstm", "hidden_size": 5, "bidirectional": True},
    ).eval()
    tokens, lengths = _batch(25, [5, 2, 8, 8, 1])

    class Batch:
        features = chars = char_lengths = None
        index = torch.arange(5)

    batch = Batch()
    batch.tokens, batch.lengths = tokens, lengths
    for step in range(2):
        with torch.inference_mode():
            probs = network.predict(batch)["probabilities"]
        assert network._inference_cache  # the looked-up path ran
        with torch.no_grad():
            expected = network(tokens, lengths).softmax(-1)
        torch.testing.assert_close(probs, expected, atol=1e-6, rtol=0)
        with torch.no_grad():  # as an optimiser step would: the cached table must not be used again
            for p in network.parameters():
                p.add_(0.3 * torch.randn_like(p))


@pytest.mark.parametrize("change", ["gru", "two_layers", "training", "float64"])
def test_other_encoders_keep_the_usual_path(change):
    backbone = {
        "cell": "gru" if change == "gru" else "lstm",
        "hidden_size": 4,
        "num_layers": 2 if change == "two_layers" else 1,
    }
    embedding, encoder = WordEmbedding(10, 4), RecurrentEncoder(4, **backbone)
    if change == "float64":
        embedding, encoder = embedding.double(), encoder.double()
    if change != "training":
        embedding.eval(), encoder.eval()
    assert word_lstm_inference(embedding, encoder, {}) is None
