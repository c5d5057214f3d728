"""Training-speed benchmarks, every figure a ratio against a baseline measured in the same run (the sections live
in ``seqkit.benchmark``; ``--help`` lists them and their options).

    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections classifier,tagger,lm,seq2seq,forecast --threads 1
    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections classifier --sst2 ../shared/data/sst2
    OMP_NUM_THREADS=1 python scripts/bench_speed.py --sections predict
    python scripts/bench_speed.py --quick            # a few batches of the built-in data: does it run?
"""

from seqkit.benchmark.speed import main

if __name__ == "__main__":
    main()
