"""The scale benchmark: prepared, memory-mapped corpora against the in-memory path (``seqkit.benchmark.scale``).

    python scripts/bench_scale.py --sections lm,stream                      # 10, 100 and 1000 MB, one thread
    python scripts/bench_scale.py --sections lm --sizes 10 --baseline-sizes 10
    python scripts/bench_scale.py --quick                                    # 1 MB: does it run?

Prints its torch thread count, a table (one row a section and corpus size) and the rows as one JSON line, last.
"""

from seqkit.benchmark.scale import main

if __name__ == "__main__":
    main()
