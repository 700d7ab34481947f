"""Screen-space labels: one per block from afar, per layer when close, never two overlapping.

:func:`declutter` is pure NumPy: given anchors in pixels, text sizes and priorities, it keeps the
higher-priority labels, shifts a lower one up or down to a free place near its anchor, and drops it when
there is none; ``reserved`` rectangles (the title, the HUD, the card, the colour bar) are never covered. What
to label comes from the model's blocks (``Network.structure``, :mod:`nn3d.hierarchy`); a layer's own label
(name, kind, shape) is a candidate once the layer's projected size reaches :data:`LAYER_LABEL_FRACTION` of
the view (:func:`close_enough`), or when its block is selected.
"""

from __future__ import annotations

import numpy as np

CHAR_W, LINE_H = 6.6, 14.0  # a label's text size in canvas pixels per character / per line (font size 8-9)
PAD = 3.0  # pixels kept free around each label
BLOCK_PRIORITY, LAYER_PRIORITY = 2.0, 1.0
LAYER_LABEL_FRACTION = 0.3
"""A layer's label is shown once its projected box spans this fraction of the view's smaller side."""


def close_enough(extent: np.ndarray, view_size) -> np.ndarray:
    """bool (n,): whether layers whose projected boxes span ``extent`` (n, 2) pixels are close enough for
    their own labels."""
    extent = np.asarray(extent, float).reshape(-1, 2)
    return extent.max(axis=1) >= LAYER_LABEL_FRACTION * min(view_size)


def text_rect(text: str, pos, font_size: float) -> np.ndarray:
    """(4,) a generous rectangle x0, y0, x1, y1 around ``text`` drawn at ``pos`` in canvas pixels, anchored
    left and "bottom" (VisPy hangs such text below its position in canvas coordinates); (0, 4) zeros-size
    when the text is empty. Measured on VisPy's font: capitals are ~0.76 px per point wide, lines ~1.5."""
    lines = text.splitlines()
    if not any(lines):
        return np.zeros(4)
    x, y = pos[0], pos[1]
    return np.array([x - 2, y - 2, x + 0.82 * font_size * max(len(line) for line in lines) + 2,
                     y + 1.55 * font_size * len(lines) + 4])


def rects(anchors: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(n, 4) rectangles x0, y0, x1, y1 of labels centred horizontally on their anchor, bottom at it."""
    a, s = np.asarray(anchors, float).reshape(-1, 2), np.asarray(sizes, float).reshape(-1, 2)
    return np.c_[a[:, 0] - s[:, 0] / 2, a[:, 1] - s[:, 1], a[:, 0] + s[:, 0] / 2, a[:, 1]]


def _hits(r: np.ndarray, kept: np.ndarray, pad: float) -> bool:
    if len(kept) == 0:
        return False
    return bool(np.any((r[0] < kept[:, 2] + pad) & (kept[:, 0] < r[2] + pad)
                       & (r[1] < kept[:, 3] + pad) & (kept[:, 1] < r[3] + pad)))


def declutter(anchors, sizes, priority, bounds=None, shifts: int = 3, pad: float = PAD, reserved=None,
              group=None):
    """Place labels so that no two rectangles intersect.

    Labels are taken by decreasing priority (ties: in order); each goes at its anchor, or else up to
    ``shifts`` label heights above or below it, at the first free place; failing that it is dropped. With
    ``bounds`` (width, height), a label must also lie inside the frame. ``reserved`` (m, 4) rectangles are
    taken before any label (text drawn elsewhere: the title, the HUD). A negative priority is never drawn.
    ``group`` (n,) int: of the labels sharing a group >= 0 (alternative texts for one thing) at most one is
    kept, the first that fits in priority order.

    Returns ``(keep, rects)``: keep (n,) bool, and the (n, 4) rectangles x0, y0, x1, y1 where the kept ones
    are drawn (rows of dropped ones are their unshifted place).
    """
    base = rects(anchors, sizes)
    n = len(base)
    keep = np.zeros(n, bool)
    placed = base.copy()
    kept = np.zeros((0, 4)) if reserved is None else np.asarray(reserved, float).reshape(-1, 4)
    priority = np.asarray(priority, float).reshape(-1)
    order = np.argsort(-priority, kind="stable")
    group = np.full(n, -1) if group is None else np.asarray(group).reshape(-1)
    taken: set = set()
    for i in order:
        if priority[i] < 0 or group[i] in taken:
            continue
        h = base[i, 3] - base[i, 1]
        for step in [0] + [s * d for s in range(1, shifts + 1) for d in (-1, 1)]:
            r = base[i] + np.array([0, step * (h + pad), 0, step * (h + pad)])
            if bounds is not None and (r[0] < 0 or r[1] < 0 or r[2] > bounds[0] or r[3] > bounds[1]):
                continue
            if not _hits(r, kept, pad):
                keep[i], placed[i] = True, r
                kept = np.vstack([kept, r])
                if group[i] >= 0:
                    taken.add(group[i])
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
