"""Train a recurrent model: ``python scripts/train.py task=sentiment backbone=gru trainer.max_epochs=5``."""

import hydra
from omegaconf import DictConfig

from seqkit.app.cli import report_errors
from seqkit.app.train import train


@hydra.main(version_base="1.3", config_path="../configs", config_name="train")
@report_errors
def main(cfg: DictConfig):
    metrics = train(cfg)
    return metrics.get(cfg.get("optimized_metric") or cfg.monitor.metric)  # the value Hydra sweepers optimise


if __name__ == "__main__":
    main()
