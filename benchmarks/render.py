"""Whole frames and per-frame recolours vs a naive VisPy scene (see ``nn3d.bench.render``).

    python benchmarks/render.py [--sizes 1e4 1e5 1e6 1e7] [--json render.json] [--plot render_frame_time.png]
"""

from nn3d.bench.render import main

if __name__ == "__main__":
    main()
