"""The benchmarks (scripts/bench_speed.py, bench_gpu.py and bench_sparse.py are their entry points).

One module a section of ``bench_speed.py`` (``classifier``, ``tagger``, ``sparse`` [tagger_sparse], ``lm``,
``forecast``, ``seq2seq``, ``gradient_flow``, ``predict``, ``export``; the table of them in ``speed``), ``gpu``
(bench_gpu.py), and what they share: ``timing`` (threads, quiet logging, clocks, alternating rounds, tables),
``loops`` (the plain loop and the Trainer on the network's own ``loss``), ``recipes`` (each section's recipe
composed from ``seqkit/configs/``), ``flops`` (FLOP counts and a GEMM yardstick), ``flair_peer`` (the tagger's peer).
"""
