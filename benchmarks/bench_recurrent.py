"""Time rnnkit's RNN/LSTM/GRU against torch.nn: the same as ``rnnkit bench``.

    python benchmarks/bench_recurrent.py --out BENCHMARKS.md          # all kinds, full shapes
    python benchmarks/bench_recurrent.py --kinds lstm --shapes quick  # a quick look
"""
import sys

from rnnkit.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
