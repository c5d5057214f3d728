"""Generate text with a language model checkpoint, streamed to stdout:
``python scripts/generate.py ckpt_path=<ckpt> prompt="ROMEO:" max_new_tokens=500 temperature=0.8 num_samples=3 seed=0``.

The command line is composed with Hydra's compose API; every language-model checkpoint (task=lm, task=conditional_lm,
new or old) runs on (network, codec) through ``seqkit.app.generate`` without importing Lightning, ``classifier_ckpt=``
included; a command line only ``@hydra.main`` reads (``--help``, ``-m``) goes through Hydra and
``seqkit.generation.generate``: the same text for the same seed."""

import sys


def hydra_main() -> None:
    import hydra
    from omegaconf import DictConfig

    from seqkit.generation import generate
    from seqkit.run import report_errors

    @hydra.main(version_base="1.3", config_path="../configs", config_name="generate")
    @report_errors
    def main(cfg: DictConfig):
        generate(cfg)

    main()


if __name__ == "__main__":
    from seqkit.app.generate import generate
    from seqkit.app.main import run_script

    if not run_script("generate", sys.argv[1:], generate):
        hydra_main()
