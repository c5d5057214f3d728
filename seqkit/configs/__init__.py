"""seqkit's shipped configs, inside the package so an installed seqkit has them all (Hydra's ``pkg://seqkit.configs``):
``train.yaml`` and the groups ``task/``, ``backbone/``, ``optimizer/``, ``trainer/``, ``logger/``, ``callbacks/``,
``experiment/``, ``hparams_search/``, and each command's ``predict.yaml``, ``evaluate.yaml``, ``generate.yaml``,
``export.yaml``. A user's own folder comes beside them with ``--config-dir`` (docs/getting-started.md)."""
