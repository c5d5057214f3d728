"""Many-to-one: one label (or one number) a sequence. Sentiment, topic, the adding problem."""

from seqkit.tasks.registry import Shape, register

_HERE = "seqkit.tasks.classification"

SHAPE = register(
    Shape(
        name="classification",
        network=f"{_HERE}.network:ClassifierNetwork",
        codec=f"{_HERE}.codec:ClassificationCodec",
        metrics=f"{_HERE}.metrics:ClassificationMetrics",
        datamodules=(f"{_HERE}.datamodule:ClassificationDataModule", f"{_HERE}.datamodule:AddingDataModule"),
        export=f"{_HERE}.export:graphs",
        legacy_models=("seqkit.models.classifier.SequenceClassifier",),
        legacy_datamodules=(
            "seqkit.data.classification.TextClassificationDataModule",
            "seqkit.data.synthetic.AddingDataModule",
        ),
        legacy_codecs=("", f"{_HERE}.codec:AddingCodec"),
    )
)
