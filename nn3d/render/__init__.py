"""Rendering: the only part of nn3d that touches OpenGL (through VisPy).

It consumes the core's plain objects (Network, Layout, EdgeSet, per-frame levels) and never reaches back into
models. One scene, two visuals (all neurons, all edges), shaders loaded by name from ``shaders/``. The GPU
holds one level byte per neuron and each layer's placement row (the vertex shader computes neuron positions
from them, :mod:`.neuron_draws`); per frame only the level bytes are uploaded.
"""
