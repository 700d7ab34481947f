"""The benchmarks' drawing target: a canvas's scene drawn into one offscreen framebuffer, to completion (the
GPU's work waited for), so that a frame's time is its drawing's."""

from __future__ import annotations

import numpy as np


class Offscreen:
    """Draws a canvas's scene into one offscreen framebuffer of ``FRAME_SIZE``, to completion."""

    def __init__(self, canvas):
        from vispy import gloo

        self.canvas = canvas
        w, h = canvas.size
        canvas.set_current()
        self.fbo = gloo.FrameBuffer(color=gloo.RenderBuffer((h, w)), depth=gloo.RenderBuffer((h, w)))

    def finish(self) -> None:
        from vispy.gloo import gl

        self.canvas.context.flush_commands()
        gl.glFinish()

    def draw(self) -> None:
        from ..render.vispy_compat import draw_scene

        self.canvas.set_current()
        self.canvas.push_fbo(self.fbo, (0, 0), self.canvas.size)
        try:
            draw_scene(self.canvas)  # what canvas.render() draws, without allocating and reading back
            self.finish()
        finally:
            self.canvas.pop_fbo()

    def image(self) -> np.ndarray:
        self.canvas.set_current()
        self.canvas.push_fbo(self.fbo, (0, 0), self.canvas.size)
        try:
            return self.fbo.read()
        finally:
            self.canvas.pop_fbo()
