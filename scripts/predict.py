"""Predict with a checkpoint: ``python scripts/predict.py ckpt_path=<ckpt> input=<file or -> [output=<file>]``.

Writes one JSON object a line (or CoNLL columns for taggers with ``options.output_format=conll``). Runs
``seqkit.app.predict`` on the checkpoint's (network, codec), for every shape, without importing Lightning.

``seqkit predict ...`` (the installed command) is the same."""

if __name__ == "__main__":
    from seqkit.app.main import main

    main("predict")
