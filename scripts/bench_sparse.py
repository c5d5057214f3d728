"""What the optimiser costs in a tagger training step: ``bench_speed.py --sections tagger_sparse`` (the section is
``seqkit.benchmark.sparse``; every bench_speed.py option applies).

    OMP_NUM_THREADS=1 python scripts/bench_sparse.py --conll2003 ../shared/data/conll2003
"""

import sys

from seqkit.benchmark.speed import main

if __name__ == "__main__":
    main(["--sections", "tagger_sparse", *sys.argv[1:]])
