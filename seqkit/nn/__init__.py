"""Plain torch.nn building blocks; nothing here knows about Lightning, Hydra or files."""
from seqkit.nn.adversarial import adversarial_perturbation
from seqkit.nn.char_encoder import CharCNN, CharLSTM, build_char_encoder
from seqkit.nn.crf import CRF, iob_constraints
from seqkit.nn.embedding import WordEmbedding
from seqkit.nn.encoder import RecurrentEncoder
from seqkit.nn.forecast_baselines import LeastSquaresLinear, naive, seasonal_naive
from seqkit.nn.forecast_heads import DirectHead, ForecastDecoder, ForecastOutput, InstanceNorm
from seqkit.nn.pooling import SequencePooling

__all__ = ["CRF", "CharCNN", "CharLSTM", "RecurrentEncoder", "SequencePooling", "WordEmbedding",
           "adversarial_perturbation", "build_char_encoder", "iob_constraints",
           "DirectHead", "ForecastDecoder", "ForecastOutput", "InstanceNorm", "LeastSquaresLinear", "naive",
           "seasonal_naive"]
