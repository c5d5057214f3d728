"""Tokenise a language model's text once into memory-mapped id files: ``python scripts/prepare.py
data.train_path=<text> [data.val_path=<text>] [data.level=word]``.

Prints one JSON line a prepared split (its id file's folder, tokens, dtype). Runs ``seqkit.app.prepare`` without
importing Lightning; ``seqkit train task=lm data.prepare=true`` with the same data settings reads the files as they
are. ``seqkit prepare ...`` (the installed command) is the same."""

if __name__ == "__main__":
    from seqkit.app.main import main

    main("prepare")
