"""Generate text with a language model checkpoint, streamed to stdout:
``python scripts/generate.py ckpt_path=<ckpt> prompt="ROMEO:" max_new_tokens=500 temperature=0.8 num_samples=3 seed=0``."""
import hydra
from omegaconf import DictConfig

from seqkit.generation import generate
from seqkit.run import report_errors


@hydra.main(version_base="1.3", config_path="../configs", config_name="generate")
@report_errors
def main(cfg: DictConfig):
    generate(cfg)


if __name__ == "__main__":
    main()
