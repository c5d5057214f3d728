"""Predict with a checkpoint: ``python scripts/predict.py ckpt_path=<ckpt> input=<file or -> [output=<file>]``.

Writes one JSON object a line (or CoNLL columns for taggers with ``options.output_format=conll``)."""
import hydra
from omegaconf import DictConfig

from seqkit.run import predict, report_errors


@hydra.main(version_base="1.3", config_path="../configs", config_name="predict")
@report_errors
def main(cfg: DictConfig):
    predict(cfg)


if __name__ == "__main__":
    main()
