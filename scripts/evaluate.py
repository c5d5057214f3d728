"""Evaluate a checkpoint on a file: ``python scripts/evaluate.py ckpt_path=<ckpt> data.test_path=<file>``.

Prints the metrics as one JSON line, last. Runs ``seqkit.app.evaluate`` on the checkpoint's (network, codec), for
every shape, without importing Lightning.

``seqkit evaluate ...`` (the installed command) is the same."""

if __name__ == "__main__":
    from seqkit.app.main import main

    main("evaluate")
