"""Evaluate a checkpoint on a file: ``python scripts/evaluate.py ckpt_path=<ckpt> data.test_path=<file>``.

Prints the metrics as one JSON line, last. The command line is composed with Hydra's compose API; a
checkpoint of a shape in ``seqkit.tasks`` (new, or an old one converted) runs on (network, codec) through
``seqkit.app.evaluate`` without importing Lightning; everything else goes through Hydra and ``seqkit.run.evaluate``."""

import sys


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
    from seqkit.app.evaluate import evaluate
    from seqkit.app.main import run_script

    if not run_script("evaluate", sys.argv[1:], evaluate):
        hydra_main()
