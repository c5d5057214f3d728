"""seqkit serve under load: requests/s and p50/p99 latency at concurrency 1, 8 and 64 for the sentiment classifier
and the NER tagger, against in-process prediction on the same sentences and thread count, and a soak (the code is
``seqkit.benchmark.serve``; ``--help`` lists the options).

    OMP_NUM_THREADS=1 python scripts/bench_serve.py --threads 1 --soak 100000
    python scripts/bench_serve.py --quick --soak 200      # tiny models, few requests: does it run?
"""

from seqkit.benchmark.serve import main

if __name__ == "__main__":
    main()
