"""A toy shape from outside seqkit: sequence-to-count regression (how many times does ``a`` occur in a line of
``a``/``b`` tokens?). It exists to prove that a shape has one home: this package and its config
(``configs/task/count.yaml``) are all it takes to train, evaluate, predict and export it through seqkit's real
entry points (tests/test_toy_shape.py), with ``plugins=[toyshape]`` on the command line."""

from seqkit.tasks.registry import Shape, register

SHAPE = register(
    Shape(
        name="count",
        network="toyshape.network:CountNetwork",
        codec="toyshape.codec:CountCodec",
        metrics="toyshape.metrics:CountMetrics",
        datamodules=("toyshape.datamodule:CountDataModule",),
        export="toyshape.export:graphs",
    )
)
