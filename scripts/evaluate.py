"""Evaluate a checkpoint on a file: ``python scripts/evaluate.py ckpt_path=<ckpt> data.test_path=<file>``.

Prints the metrics as one JSON line, last."""
import hydra
from omegaconf import DictConfig

from seqkit.run import evaluate, report_errors


@hydra.main(version_base="1.3", config_path="../configs", config_name="evaluate")
@report_errors
def main(cfg: DictConfig):
    evaluate(cfg)


if __name__ == "__main__":
    main()
