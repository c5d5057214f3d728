"""Generate text with a language model checkpoint, streamed to stdout:
``python scripts/generate.py ckpt_path=<ckpt> prompt="ROMEO:" max_new_tokens=500 temperature=0.8 num_samples=3 seed=0``.

Runs ``seqkit.app.generate`` on the checkpoint's (network, codec) (task=lm and task=conditional_lm, ``classifier_ckpt=``
included), without importing Lightning: the same text for the same seed.

``seqkit generate ...`` (the installed command) is the same."""

if __name__ == "__main__":
    from seqkit.app.main import main

    main("generate")
