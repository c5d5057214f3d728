"""Generate text with a language model checkpoint, streamed to stdout:
``python scripts/generate.py ckpt_path=<ckpt> prompt="ROMEO:" max_new_tokens=500 temperature=0.8 num_samples=3 seed=0``.

Language models (task=lm, task=conditional_lm) start without importing Lightning or Hydra's application
(``seqkit.light_generate``); ``classifier_ckpt=``, and any override only Hydra can read (such as
``hydra.verbose=false``, which forces this path), go through Hydra and ``seqkit.generation.generate``: the
same text for the same seed."""
import sys
from pathlib import Path

from seqkit.light_generate import light_generate
from seqkit.light_predict import main as light_main

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "generate.yaml"


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
    if not light_main(CONFIG, sys.argv[1:], light_generate):
        hydra_main()
