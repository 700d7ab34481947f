"""Per-frame activation kernels vs the NumPy reference and the copy floor (see ``nn3d.bench.kernels``).

    python benchmarks/kernels.py [--sizes 1e4 1e5 1e6 1e7] [--kernels numba torch] [--json kernels.json]
"""

from nn3d.bench.kernels import main

if __name__ == "__main__":
    main()
