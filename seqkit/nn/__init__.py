"""Plain torch.nn building blocks; nothing here knows about Lightning, Hydra or files."""
from seqkit.nn.embedding import WordEmbedding
from seqkit.nn.encoder import RecurrentEncoder
from seqkit.nn.pooling import SequencePooling

__all__ = ["RecurrentEncoder", "SequencePooling", "WordEmbedding"]
