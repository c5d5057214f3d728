"""Export a checkpoint: ``python scripts/export.py ckpt_path=<ckpt> format=onnx|torchscript [output=<file>]``.

Writes the model's graphs and a JSON sidecar (vocabularies, label maps, scaler) and prints one JSON line naming the
files. Runs ``seqkit.app.export`` on the checkpoint's (network, codec), for every shape, without importing
Lightning.

``seqkit export ...`` (the installed command) is the same."""

if __name__ == "__main__":
    from seqkit.app.main import main

    main("export")
