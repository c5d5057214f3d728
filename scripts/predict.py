"""Predict with a checkpoint: ``python scripts/predict.py ckpt_path=<ckpt> input=<file or -> [output=<file>]``.

Writes one JSON object a line (or CoNLL columns for taggers with ``options.output_format=conll``). The command line is composed with Hydra's compose API; a
checkpoint of a shape in ``seqkit.tasks`` (new, or an old one converted) runs on (network, codec) through
``seqkit.app.predict`` without importing Lightning; everything else goes through Hydra and ``seqkit.run.predict``."""

import sys


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
    from seqkit.app.main import run_script
    from seqkit.app.predict import predict

    if not run_script("predict", sys.argv[1:], predict):
        hydra_main()
