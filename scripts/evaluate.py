"""Evaluate a checkpoint on a file: ``python scripts/evaluate.py ckpt_path=<ckpt> data.test_path=<file>``.

Prints the metrics as one JSON line, last. A text classifier's checkpoint on a test file is evaluated by
``seqkit.light_evaluate`` without importing Lightning or Hydra's application (seconds sooner); everything else
goes through Hydra and ``seqkit.run.evaluate``, with the same figures."""
import sys
from pathlib import Path

from seqkit.light_evaluate import main as light_main

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "evaluate.yaml"


def hydra_main() -> None:
    import hydra
    from omegaconf import DictConfig

    from seqkit.run import evaluate, report_errors

    @hydra.main(version_base="1.3", config_path="../configs", config_name="evaluate")
    @report_errors
    def main(cfg: DictConfig):
        evaluate(cfg)

    main()


if __name__ == "__main__":
    if not light_main(CONFIG, sys.argv[1:]):
        hydra_main()
