"""Next-step prediction: character/word language models trained with truncated BPTT, and (``num_conditions`` > 0)
the one-to-many generator of a sentence from a class."""

from seqkit.tasks.registry import Shape, register

_HERE = "seqkit.tasks.language_model"

SHAPE = register(
    Shape(
        name="language_model",
        network=f"{_HERE}.network:LanguageModelNetwork",
        codec=f"{_HERE}.codec:LanguageModelCodec",
        metrics=f"{_HERE}.metrics:LanguageModelMetrics",
        datamodules=(
            f"{_HERE}.datamodule:LanguageModelingDataModule",
            f"{_HERE}.datamodule:ConditionalLanguageModelingDataModule",
        ),
        export=f"{_HERE}.export:graphs",
        legacy_models=("seqkit.models.language_model.LanguageModel",),
        legacy_datamodules=(
            "seqkit.data.language_modeling.LanguageModelingDataModule",
            "seqkit.data.conditional_lm.ConditionalLanguageModelingDataModule",
        ),
        legacy_codecs=("", f"{_HERE}.codec:ConditionalLanguageModelCodec"),
    )
)
