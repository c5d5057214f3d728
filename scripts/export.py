"""Export a checkpoint: ``python scripts/export.py ckpt_path=<ckpt> format=onnx|torchscript [output=<file>]
[overwrite=true]``.

Writes the model's graphs and a JSON sidecar (vocabularies, label maps, scaler; seqkit.export) and prints
one JSON line naming the files. An existing file is replaced only with overwrite=true, the checkpoint never;
every file is written atomically (seqkit.safe_files)."""
import json

import hydra
from omegaconf import DictConfig

from seqkit.run import report_errors


@hydra.main(version_base="1.3", config_path="../configs", config_name="export")
@report_errors
def main(cfg: DictConfig):
    from seqkit.export import export_checkpoint
    from seqkit.tasks.registry import import_plugins

    import_plugins(cfg.get("plugins"))

    files = export_checkpoint(str(cfg.ckpt_path), str(cfg.format), cfg.get("output"), bool(cfg.get("overwrite")),
                              (cfg.get("data") or {}).get("pretrained"))
    print(json.dumps(files), flush=True)


if __name__ == "__main__":
    main()
