"""Unaligned many-to-many (encoder-decoder): source -> target of another length. Grapheme-to-phoneme, translation."""

from seqkit.tasks.registry import Shape, register

_HERE = "seqkit.tasks.seq2seq"

SHAPE = register(
    Shape(
        name="seq2seq",
        network=f"{_HERE}.network:Seq2SeqNetwork",
        codec=f"{_HERE}.codec:Seq2SeqCodec",
        metrics=f"{_HERE}.metrics:Seq2SeqMetrics",
        datamodules=(f"{_HERE}.datamodule:ParallelDataModule",),
        export=f"{_HERE}.export:graphs",
        legacy_models=("seqkit.models.seq2seq.Seq2Seq",),
        legacy_datamodules=("seqkit.data.parallel.ParallelTextDataModule",),
        legacy_codecs=("",),
    )
)
