"""Screen-space labels: one per block by default, per layer where they fit, never two overlapping.

:func:`declutter` is pure NumPy: given anchors in pixels, text sizes and priorities, it keeps the
higher-priority labels, shifts a lower one up or down to a free place near its anchor, and drops it when
there is none. What to label comes from the model's blocks (``Network.structure``, :mod:`nn3d.hierarchy`).
"""

from __future__ import annotations

import numpy as np

CHAR_W, LINE_H = 6.6, 14.0  # a label's text size in canvas pixels per character / per line (font size 8-9)
PAD = 3.0  # pixels kept free around each label
BLOCK_PRIORITY, LAYER_PRIORITY = 2.0, 1.0


def rects(anchors: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(n, 4) rectangles x0, y0, x1, y1 of labels centred horizontally on their anchor, bottom at it."""
    a, s = np.asarray(anchors, float).reshape(-1, 2), np.asarray(sizes, float).reshape(-1, 2)
    return np.c_[a[:, 0] - s[:, 0] / 2, a[:, 1] - s[:, 1], a[:, 0] + s[:, 0] / 2, a[:, 1]]


def _hits(r: np.ndarray, kept: np.ndarray, pad: float) -> bool:
    if len(kept) == 0:
        return False
    return bool(np.any((r[0] < kept[:, 2] + pad) & (kept[:, 0] < r[2] + pad)
                       & (r[1] < kept[:, 3] + pad) & (kept[:, 1] < r[3] + pad)))


def declutter(anchors, sizes, priority, bounds=None, shifts: int = 3, pad: float = PAD):
    """Place labels so that no two rectangles intersect.

    Labels are taken by decreasing priority (ties: in order); each goes at its anchor, or else up to
    ``shifts`` label heights above or below it, at the first free place; failing that it is dropped. With
    ``bounds`` (width, height), a label must also lie inside the frame.

    Returns ``(keep, rects)``: keep (n,) bool, and the (n, 4) rectangles x0, y0, x1, y1 where the kept ones
    are drawn (rows of dropped ones are their unshifted place).
    """
    base = rects(anchors, sizes)
    n = len(base)
    keep = np.zeros(n, bool)
    placed = base.copy()
    kept = np.zeros((0, 4))
    order = np.argsort(-np.asarray(priority, float), kind="stable")
    for i in order:
        h = base[i, 3] - base[i, 1]
        for step in [0] + [s * d for s in range(1, shifts + 1) for d in (-1, 1)]:
            r = base[i] + np.array([0, step * (h + pad), 0, step * (h + pad)])
            if bounds is not None and (r[0] < 0 or r[1] < 0 or r[2] > bounds[0] or r[3] > bounds[1]):
                continue
            if not _hits(r, kept, pad):
                keep[i], placed[i] = True, r
                kept = np.vstack([kept, r])
                break
    return keep, placed


def overlaps(rects_: np.ndarray) -> int:
    """How many pairs of the (n, 4) rectangles intersect (touching edges do not count)."""
    r = np.asarray(rects_, float).reshape(-1, 4)
    if len(r) < 2:
        return 0
    x = (r[:, None, 0] < r[None, :, 2]) & (r[None, :, 0] < r[:, None, 2])
    y = (r[:, None, 1] < r[None, :, 3]) & (r[None, :, 1] < r[:, None, 3])
    both = x & y
    return int(np.triu(both, 1).sum())


def text_size(text: str) -> tuple[float, float]:
    """The approximate size in canvas pixels of one label's text."""
    lines = text.splitlines() or [""]
    return CHAR_W * max(len(line) for line in lines) + 4, LINE_H * len(lines)
