"""Export a checkpoint: ``python scripts/export.py ckpt_path=<ckpt> format=onnx|torchscript [output=<file>]``.

Writes the model's graphs and a JSON sidecar (vocabularies, label maps, scaler; seqkit.export) and prints
one JSON line naming the files. A checkpoint of a shape in ``seqkit.tasks`` (new, or an old one converted) is
exported on (network, codec) through ``seqkit.app.export`` without importing Lightning; everything else goes
through Hydra and ``seqkit.export.export_checkpoint``."""

import json
import sys


def hydra_main() -> None:
    import hydra
    from omegaconf import DictConfig

    from seqkit.run import report_errors

    @hydra.main(version_base="1.3", config_path="../configs", config_name="export")
    @report_errors
    def main(cfg: DictConfig):
        from seqkit.export import export_checkpoint
        from seqkit.tasks.registry import import_plugins

        import_plugins(cfg.get("plugins"))
        files = export_checkpoint(
            str(cfg.ckpt_path),
            str(cfg.format),
            cfg.get("output"),
            bool(cfg.get("overwrite")),
            (cfg.get("data") or {}).get("pretrained"),
        )
        print(json.dumps(files), flush=True)

    main()


if __name__ == "__main__":
    from seqkit.app.export import export
    from seqkit.app.main import run_script

    if not run_script("export", sys.argv[1:], export):
        hydra_main()
