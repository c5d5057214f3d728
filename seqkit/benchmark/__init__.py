"""What scripts/bench_speed.py measures with, kept out of the script: recipes composed from ``configs/``
(``recipes``), FLOP counts and a GEMM yardstick (``flops``), and the Flair peer of the tagger (``flair_peer``)."""
