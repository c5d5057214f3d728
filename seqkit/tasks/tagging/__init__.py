"""Many-to-many aligned: one tag a token. NER, POS, chunking, copy memory."""

from seqkit.tasks.registry import Shape, register

_HERE = "seqkit.tasks.tagging"

SHAPE = register(
    Shape(
        name="tagging",
        network=f"{_HERE}.network:TaggerNetwork",
        codec=f"{_HERE}.codec:TaggingCodec",
        metrics=f"{_HERE}.metrics:TaggingMetrics",
        datamodules=(f"{_HERE}.datamodule:TaggingDataModule", f"{_HERE}.datamodule:CopyMemoryDataModule"),
        export=f"{_HERE}.export:graphs",
        legacy_models=("seqkit.models.tagger.SequenceTagger",),
        legacy_datamodules=("seqkit.data.tagging.TaggingDataModule", "seqkit.data.synthetic.CopyMemoryDataModule"),
        legacy_codecs=("", f"{_HERE}.codec:CopyMemoryCodec"),
    )
)
