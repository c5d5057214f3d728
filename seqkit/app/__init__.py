"""The commands on (network, codec), for every registered shape, without Lightning: ``checkpoint.load`` (one loader,
new and converted old checkpoints), ``predict``, ``evaluate``; ``config.compose`` parses a script's command line
with Hydra's compose API. Training (Lightning) lives in ``seqkit.training``."""
