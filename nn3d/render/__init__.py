"""Rendering: the only part of nn3d that touches OpenGL (through VisPy).

It consumes the core's plain objects (Network, Layout, EdgeSet, per-frame levels) and never reaches back into
models. One scene, two visuals (all neurons, all edges), shaders loaded by name from ``shaders/``; per frame
only the one-byte-per-neuron level buffer is uploaded.
"""
