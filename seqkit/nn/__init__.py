"""Plain torch.nn building blocks; nothing here knows about Lightning, Hydra or files."""

from seqkit.nn.adversarial import adversarial_perturbation
from seqkit.nn.casing import CasingEmbedding
from seqkit.nn.char_encoder import CharCNN, CharLSTM, ConcatCharEncoder, build_char_encoder
from seqkit.nn.crf import CRF, iob_constraints
from seqkit.nn.embedding import WordEmbedding
from seqkit.nn.encoder import RecurrentEncoder, detach_state
from seqkit.nn.forecast_baselines import LeastSquaresLinear, naive, seasonal_naive
from seqkit.nn.forecast_heads import DirectHead, ForecastDecoder, ForecastOutput, InstanceNorm
from seqkit.nn.padding import PAD_INDEX, UNK_INDEX, lengths_to_mask
from seqkit.nn.pooling import SequencePooling

__all__ = [
    "CRF",
    "CasingEmbedding",
    "CharCNN",
    "CharLSTM",
    "ConcatCharEncoder",
    "DirectHead",
    "ForecastDecoder",
    "ForecastOutput",
    "InstanceNorm",
    "LeastSquaresLinear",
    "PAD_INDEX",
    "RecurrentEncoder",
    "SequencePooling",
    "UNK_INDEX",
    "WordEmbedding",
    "adversarial_perturbation",
    "build_char_encoder",
    "detach_state",
    "iob_constraints",
    "lengths_to_mask",
    "naive",
    "seasonal_naive",
]
