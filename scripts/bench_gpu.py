"""GPU benchmark: each shape's training step on the cuDNN path, in fp32 and in 16-bit mixed precision, against the
CPU (the benchmark is ``seqkit.benchmark.gpu``; ``--help`` lists its options).

    python scripts/bench_gpu.py                                   # every shape (needs a CUDA GPU)
    python scripts/bench_gpu.py --shapes lm,seq2seq --batches 100 --cpu-threads 1,16
    python scripts/bench_gpu.py --quick                           # classifier and forecast, toy run: does it run?
"""

from seqkit.benchmark.gpu import main

if __name__ == "__main__":
    main()
