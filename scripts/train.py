"""Train a recurrent model: ``python scripts/train.py task=sentiment backbone=gru trainer.max_epochs=5``.

The same as ``seqkit train ...`` (``seqkit.app.train.main``: Hydra's runner on ``seqkit/configs/train.yaml``)."""

if __name__ == "__main__":
    from seqkit.app.train import main

    main()
