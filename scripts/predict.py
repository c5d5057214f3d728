"""Predict with a checkpoint: ``python scripts/predict.py ckpt_path=<ckpt> input=<file or -> [output=<file>]``.

Writes one JSON object a line (or CoNLL columns for taggers with ``options.output_format=conll``). Shapes that
``seqkit.light_predict`` covers start without importing Lightning or Hydra's application (about a second
instead of several); everything else goes through Hydra and ``seqkit.run.predict``, with the same output."""
import sys
from pathlib import Path

from seqkit.light_predict import main as light_main

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "predict.yaml"


def hydra_main() -> None:
    import hydra
    from omegaconf import DictConfig

    from seqkit.run import predict, report_errors

    @hydra.main(version_base="1.3", config_path="../configs", config_name="predict")
    @report_errors
    def main(cfg: DictConfig):
        predict(cfg)

    main()


if __name__ == "__main__":
    if not light_main(CONFIG, sys.argv[1:]):
        hydra_main()
