"""What every shape's data handling shares, Lightning-free except ``codec_datamodule``: the ``Codec`` base, file
readers with ``error: file:line`` messages, vocabularies, tokenisers, pretrained vectors, batching and bucketing.
A shape's own reading and encoding lives in ``seqkit/tasks/<shape>/codec.py``."""
