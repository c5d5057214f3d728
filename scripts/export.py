"""Export a checkpoint: ``python scripts/export.py ckpt_path=<ckpt> format=onnx|torchscript [output=<file>]``.

Writes the model's graphs and a JSON sidecar (vocabularies, label maps, scaler; seqkit.export) and prints
one JSON line naming the files."""
import json

import hydra
from omegaconf import DictConfig

from seqkit.run import report_errors


@hydra.main(version_base="1.3", config_path="../configs", config_name="export")
@report_errors
def main(cfg: DictConfig):
    from seqkit.export import export_checkpoint

    print(json.dumps(export_checkpoint(str(cfg.ckpt_path), str(cfg.format), cfg.get("output"),
                                       (cfg.get("data") or {}).get("pretrained"))), flush=True)


if __name__ == "__main__":
    main()
