"""Folding a deep model into rows, like lines of text: cut between levels, rows stacked downwards.

A deep model laid out along depth (+x) is a long thin line; from the default three-quarter view it reads as
a diagonal hairline. Folding wraps consecutive levels (graph depths) into rows: each row flows left to right
along +x starting again at the left edge, rows are stacked along -z (row 0 on top) with a gap that scales like
the gaps between levels, so no two layer boxes can overlap (rows occupy disjoint z ranges; within a row the
unfolded x order is kept).

Cuts are made between levels only, and only between the model's blocks (:mod:`nn3d.hierarchy`: a
transformer layer or a ResNet block stays on one row): a cut after level k is allowed when no block has
layers on both sides (:func:`block_cuts`). Among the allowed cuts, *narrow points* are preferred: after a
level with a single layer that no connection jumps over (between transformer blocks, after a ResNet stage's
add). A cut goes to the narrow point nearest its ideal place (the remaining length shared equally among the
remaining rows) when one lies within :data:`CLEAN_TOLERANCE` of a row's length, else to the nearest allowed
level boundary.

``fold="auto"`` folds only scenes of at least :data:`AUTO_MIN_LEVELS` levels that are more than
:data:`AUTO_ELONGATION` times longer than they are tall or wide, into the number of rows whose bounding box,
as seen from the home camera's direction, is nearest a 16:9 screen (the home camera fits that box to the
view), using only cuts between blocks. An explicit number of rows is honoured even when the blocks allow
fewer cuts (the remaining cuts then fall inside blocks). This is per-level planning (O(levels x rows)), done
before the single placement pass; the functions are Numba-compiled and called from the planner.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..camera_pose import HOME_VIEW

AUTO = -1
"""Fold mode code for ``fold="auto"`` (0: no folding; n >= 1: n rows)."""
AUTO_ELONGATION = 8.0
"""``fold="auto"`` leaves a scene unfolded unless its length (x) exceeds this many times its height and width."""
AUTO_MIN_LEVELS = 12
"""... and unless it has at least this many levels: two rows of a few levels each read as a grid of layers,
not as a flow folded in lines (a short network of huge stacked layers can be elongated too)."""
SCREEN_ASPECT = 16 / 9
CLEAN_TOLERANCE = 0.35
"""A cut moves to a narrow point up to this fraction of a row's length away from its ideal place."""
MAX_AUTO_ROWS = 64


def fold_mode(fold) -> int:
    """The fold mode code of a ``fold`` argument: "auto" -> :data:`AUTO`, None / "none" -> 0, n >= 1 -> n."""
    if fold is None:
        return 0
    if isinstance(fold, str):
        key = fold.strip().lower()
        if key == "auto":
            return AUTO
        if key == "none":
            return 0
    elif isinstance(fold, (int, np.integer)) and not isinstance(fold, bool) and fold >= 1:
        return int(fold)
    raise ValueError(f"fold must be 'auto', 'none' or a number of rows >= 1, got {fold!r}")


def folds(mode: int, n_levels: int, length: float, side: float) -> bool:
    """Whether a scene is to be folded: ``mode`` > 0, or "auto" and at least :data:`AUTO_MIN_LEVELS` levels,
    ``length`` (along x) more than :data:`AUTO_ELONGATION` times ``side`` (its larger extent along y or z)."""
    if mode != AUTO:
        return mode > 0
    return n_levels >= AUTO_MIN_LEVELS and length > AUTO_ELONGATION * side


def block_cuts(net, level, n_levels: int) -> np.ndarray:
    """bool (n_levels - 1,): whether a cut after level k keeps every block of ``net.structure`` on one row
    (no block has layers at levels <= k and > k). ``level``: the level of each layer."""
    level = np.asarray(level, np.int64)
    diff = np.zeros(max(n_levels, 1), np.int64)
    for block in net.structure:
        lv = level[list(block.layers)]
        lo, hi = int(lv.min()), int(lv.max())
        if hi > lo:
            diff[lo] += 1
            diff[hi] -= 1
    return np.cumsum(diff)[: max(n_levels - 1, 0)] == 0


@njit(cache=True)
def clean_cuts(level, src, dst, n_levels):  # pragma: no cover - compiled
    """bool (n_levels - 1,): whether the boundary after level k is a narrow point. ``src``, ``dst``: every
    link of the DAG (the planners' predecessor lists, flattened)."""
    count = np.zeros(n_levels, np.int64)
    for i in range(level.shape[0]):
        count[level[i]] += 1
    jump = np.zeros(n_levels + 1, np.int64)  # links crossing boundary k from a level before k
    for e in range(src.shape[0]):
        a, b = level[src[e]] + 1, level[dst[e]]
        if a < b:
            jump[a] += 1
            jump[b] -= 1
    clean = np.zeros(max(n_levels - 1, 0), np.bool_)
    run = 0
    for k in range(n_levels - 1):
        run += jump[k]
        clean[k] = count[k] == 1 and run == 0
    return clean


@njit(cache=True)
def _cuts(x_lo, x_hi, clean, allowed, n_rows, strict):  # pragma: no cover - compiled
    """int64 (n_rows,) first level of each row (n_rows <= number of levels). Cuts go only where ``allowed``
    when that can be; when it cannot, ``strict`` stops with fewer rows, else the cut goes to any boundary."""
    n = x_lo.shape[0]
    starts = np.zeros(n_rows, np.int64)
    s = 0
    x_end = x_hi[n - 1]
    for k in range(1, n_rows):
        row = (x_end - x_lo[s]) / (n_rows - k + 1)  # what is left, shared equally by the rows left
        ideal = x_lo[s] + row
        best, best_d, nice, nice_d, any_b, any_d = -1, np.inf, -1, np.inf, -1, np.inf
        for b in range(s, n - 1 - (n_rows - k) + 1):  # cut after level b; every later row keeps a level
            d = abs((x_hi[b] + x_lo[b + 1]) / 2 - ideal)
            if d < any_d:
                any_b, any_d = b, d
            if not allowed[b]:
                continue
            if d < best_d:
                best, best_d = b, d
            if clean[b] and d < nice_d:
                nice, nice_d = b, d
        if nice >= 0 and nice_d <= CLEAN_TOLERANCE * row:
            best = nice
        if best < 0:
            if strict:
                return starts[:k].copy()
            best = any_b
        s = best + 1
        starts[k] = s
    return starts


@njit(cache=True)
def _rows_geometry(x_lo, x_hi, z_half, extent, starts, spacing, min_gap, depth_ratio):  # pragma: no cover
    """Per-row x and z offsets (float64 (rows,) each), the widest row's length and the total height."""
    n_rows, n = starts.shape[0], x_lo.shape[0]
    dx, dz = np.zeros(n_rows), np.zeros(n_rows)
    half, ext = np.zeros(n_rows), np.zeros(n_rows)
    width = 0.0
    for j in range(n_rows):
        a = starts[j]
        b = starts[j + 1] if j + 1 < n_rows else n
        for lv in range(a, b):
            half[j] = max(half[j], z_half[lv])
            ext[j] = max(ext[j], extent[lv])
        dx[j] = x_lo[0] - x_lo[a]
        width = max(width, x_hi[b - 1] - x_lo[a])
    for j in range(1, n_rows):
        gap = spacing * max(min_gap, depth_ratio * max(ext[j - 1], ext[j]))
        dz[j] = dz[j - 1] - half[j - 1] - gap - half[j]
    height = half[0] - (dz[n_rows - 1] - half[n_rows - 1])
    return dx, dz, width, height


def view_aspect(wx: float, wy: float, hz: float, view=HOME_VIEW) -> float:
    """Width / height of a box wx x wy x hz seen from ``view`` (azimuth, elevation in degrees; by default
    :data:`nn3d.camera_pose.HOME_VIEW`, the home camera's direction, which ``fold="auto"`` aims at)."""
    return _view_aspect.py_func(wx, wy, hz, math.radians(view[0]), math.radians(view[1]))


@njit(cache=True)
def _view_aspect(wx, wy, hz, az, el):  # pragma: no cover - compiled
    """Width / height of a box wx x wy x hz projected along the direction azimuth ``az``, elevation ``el``
    (radians)."""
    w = wx * math.cos(az) + wy * math.sin(az)
    h = hz * math.cos(el) + (wx * math.sin(az) + wy * math.cos(az)) * math.sin(el)
    return w / max(h, 1e-12)


def rows(x_lo, x_hi, z_half, extent, width_y, clean, allowed, mode, spacing, min_gap, depth_ratio,
         aspect=SCREEN_ASPECT, view=HOME_VIEW):
    """Fold the levels into rows.

    Parameters (per level, in the unfolded layout): ``x_lo``, ``x_hi`` its span along x; ``z_half`` half the
    height of its tallest layer (layers are centred on z = 0); ``extent`` its largest layer size (for the gap
    between rows, like the gap between levels); ``width_y`` the scene's extent along y; ``clean`` narrow
    points (:func:`clean_cuts`); ``allowed`` the cuts between blocks (:func:`block_cuts`); ``mode`` :data:`AUTO`
    or the number of rows; ``min_gap`` in world units; ``aspect`` the frame's width / height that "auto" aims at,
    ``view`` the direction (azimuth, elevation in degrees) the scene is seen from: the home camera's.

    Returns the row of each level (int64), and per row the x and z offsets to add to its layers' centres.
    The angles are passed to the compiled pass as arguments, not read as globals: Numba's cache would keep
    a global's old value after :data:`nn3d.camera_pose.HOME_VIEW` changed.
    """
    return _rows(x_lo, x_hi, z_half, extent, width_y, clean, allowed, mode, spacing, min_gap, depth_ratio,
                 float(aspect), math.radians(view[0]), math.radians(view[1]))


@njit(cache=True)
def _rows(x_lo, x_hi, z_half, extent, width_y, clean, allowed, mode, spacing, min_gap, depth_ratio,
          aspect, az, el):  # pragma: no cover - compiled
    n = x_lo.shape[0]
    n_rows = min(max(mode, 1), n)
    strict = mode == AUTO
    if mode == AUTO:  # the number of rows nearest the frame (the caller has checked that the scene is long)
        best = np.inf
        for r in range(1, min(n, MAX_AUTO_ROWS, int(allowed.sum()) + 1) + 1):
            starts = _cuts(x_lo, x_hi, clean, allowed, r, True)
            if starts.shape[0] < r:
                break  # the blocks allow no more rows
            _, _, wx, hz = _rows_geometry(x_lo, x_hi, z_half, extent, starts, spacing, min_gap, depth_ratio)
            seen = _view_aspect(wx, width_y, hz, az, el)
            err = abs(math.log(seen / aspect))
            if err < best:
                best, n_rows = err, r
            elif seen < aspect:
                break  # more rows only make it taller
    starts = _cuts(x_lo, x_hi, clean, allowed, n_rows, strict)
    n_rows = starts.shape[0]
    dx, dz, _, _ = _rows_geometry(x_lo, x_hi, z_half, extent, starts, spacing, min_gap, depth_ratio)
    row = np.zeros(n, np.int64)
    for j in range(1, n_rows):
        row[starts[j]:] = j
    return row, dx, dz
