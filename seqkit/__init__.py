"""seqkit: recurrent sequence models (RNN, LSTM, GRU) for every input/output shape."""

__version__ = "0.1.0"
