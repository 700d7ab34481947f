"""The layout planner, compiled: tilings, the DAG, lateral slots, gaps, folding and boxes in Numba.

:func:`nn3d.layout.layout` spends a fixed cost per call before it writes any position: at 10^5 neurons the
Python planner (:mod:`~nn3d.layout.plan_reference`, ~0.2 ms for 16 layers) costs more than placing the
neurons. Here Python only gathers each layer's start, shape and kind code and each connection's ends into two
small integer arrays (:func:`gather`); :func:`plan` does the rest in two compiled calls, with the same
arithmetic in the same order as the reference, so that both give identical kernel parameters and boxes (the
tests check it).

Tilings of the built-in placers (:func:`~nn3d.layout.placement.auto`, :func:`~nn3d.layout.placement.attention`)
are computed here; a kind registered in :data:`~nn3d.layout.placement.PLACERS` with any other placer keeps
working: its tiling is computed in Python and passed in.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ..network import Network
from . import fold
from .placement import IMAGE_KINDS, PLACERS, PlaceOptions, attention, auto, n_heads

AUTO, ATTENTION, GIVEN = 0, 1, 2  # placer codes
IMAGE, INPUT = 1, 2  # flag bits


def gather(net: Network, opts: PlaceOptions):
    """``meta`` int64 (L, 8): start, ndim, three dims (n; rows, cols; channels, h, w), placer code, flags,
    heads; ``given`` int64 (L, 7) and float64 (L,): tilings of layers with a custom placer; ``links`` int64
    (C, 3): src, dst, identity. One list and one array for all of it: at 16 layers, each NumPy conversion
    costs as much as the loop."""
    layers = net.layers
    flat = []
    given = None
    for i, layer in enumerate(layers):
        shape, kind = layer.shape, layer.kind
        nd = len(shape)
        placer = PLACERS.get(kind, auto)
        code = AUTO if placer is auto else ATTENTION if placer is attention else GIVEN
        flags = (IMAGE if kind in IMAGE_KINDS else 0) | (INPUT if kind == "input" else 0)
        heads = n_heads(layer, opts) if code == ATTENTION and nd == 2 else 1
        if nd <= 2:
            flat += (layer.start, nd, shape[0] if nd else 1, shape[1] if nd == 2 else 1, 1, code, flags, heads)
        else:
            flat += (layer.start, nd, shape[0] if nd == 3 else math.prod(shape[:-2]), shape[-2], shape[-1], code,
                     flags, heads)
        if code == GIVEN:
            given = _given(given, len(layers), i, placer(layer, opts))
    for c in net.connections:
        flat += (c.src, c.dst, c.kind == "identity")
    arr = np.array(flat, np.int64)
    n = 8 * len(layers)
    if given is None:
        given = (np.zeros((0, 7), np.int64), np.zeros(0))
    return arr[:n].reshape(-1, 8), given, arr[n:].reshape(-1, 3)


def _given(given, n, i, t):
    ints, floats = given or (np.zeros((n, 7), np.int64), np.zeros(n))
    ints[i] = (t.outer, t.rows, t.cols, t.band, t.tile_cols, t.gap, t.stack)
    floats[i] = t.stack_gap
    return ints, floats


def plan(net: Network, opts: PlaceOptions, spacing: float, pitch: float, depth_ratio: float, min_gap: float,
         spread_max: float, fold_mode: int):
    """What :func:`nn3d.layout.plan_reference.plan` returns, computed by two compiled calls: the levels
    (:func:`_plan_levels`) and the boxes (:func:`_plan_boxes`), with :func:`nn3d.layout.fold.rows` between
    them when the scene is to be folded. (Each compiled function only calls functions of its own file:
    Numba's cache would not see a change in another file.)"""
    meta, (given, given_gap), links = gather(net, opts)
    ip, fp, geo, level, s, lv, dag, width_y, height = _plan_levels(
        meta, given, given_gap, links, net.n_neurons, opts.conv == "stack", float(opts.max_aspect),
        float(opts.stack_gap), float(spacing), float(pitch), float(depth_ratio), float(min_gap), float(spread_max))
    lv_row, dx, dz = _NO_ROWS
    if fold_mode and fold.folds(fold_mode, lv.shape[1], lv[1, -1] - lv[0, 0], max(width_y, height)):
        clean = fold.clean_cuts(level, dag[0], dag[1], lv.shape[1])
        allowed = fold.block_cuts(net, level, lv.shape[1])
        lv_row, dx, dz = fold.rows(lv[0], lv[1], lv[2], lv[3], width_y, clean, allowed, fold_mode,
                                   float(spacing),
                                   min_gap * pitch, float(depth_ratio))
    boxes, rows = _plan_boxes(fp, geo, level, lv_row, dx, dz)
    return ip, fp, boxes, level.astype(np.int32), s, rows


_NO_ROWS = (np.zeros(0, np.int64), np.zeros(0), np.zeros(0))


# -- tilings: placement.py's rules, as (outer, rows, cols, band, tile_cols, gap, stack) ----------------------
@njit(cache=True)
def _grid(n):  # pragma: no cover - compiled
    cols = math.ceil(math.sqrt(n))
    return 1, math.ceil(n / cols), cols, cols, 1, 0, 0


@njit(cache=True)
def _tile_gap(rows, cols):  # pragma: no cover - compiled
    return max(1, math.ceil(0.08 * max(rows, cols)))


@njit(cache=True)
def _rows_cols(rows, cols, max_aspect):  # pragma: no cover - compiled
    if rows == 1 or cols == 1:
        return _grid(rows * cols)
    if cols <= max_aspect * rows:
        return 1, rows, cols, cols, 1, 0, 0
    bands = max(1, round(math.sqrt(cols / (rows + 1))))
    return 1, rows, cols, -(-cols // bands), 1, 1, 0


@njit(cache=True)
def _maps(channels, h, w, stack, image):  # pragma: no cover - compiled
    if h * w == 1:
        return _grid(channels)
    if channels == 1:
        return 1, h, w, w, 1, 0, 0
    gap = _tile_gap(h, w)
    if stack and not image:
        return channels, h, w, w, 1, gap, 1
    tile_cols = channels if image and channels <= 4 else math.ceil(math.sqrt(channels * (h + gap) / (w + gap)))
    return channels, h, w, w, max(1, min(tile_cols, channels)), gap, 0


@njit(cache=True)
def _tiling(m, stack, max_aspect):  # pragma: no cover - compiled
    nd, d0, d1, d2, code, flags, heads = m[1], m[2], m[3], m[4], m[5], m[6], m[7]
    if code == ATTENTION and nd == 2 and heads > 1:
        hd = d1 // heads
        gap = _tile_gap(d0, hd)
        tile_cols = max(1, min(heads, math.ceil(math.sqrt(heads * (d0 + gap) / (hd + gap)))))
        return 1, d0, d1, hd, tile_cols, gap, 0
    if nd <= 1:
        return _grid(d0)
    if nd == 2:
        return _rows_cols(d0, d1, max_aspect)
    return _maps(d0, d1, d2, stack, flags & IMAGE != 0)


# -- the DAG: dag.py's rules ------------------------------------------------------------------------------
# (plain loops rather than np.cumsum, np.unique, slice copies: the same speed at this size, and seconds less
# to compile the first time)
@njit(cache=True)
def _cumsum(count):  # pragma: no cover - compiled
    """Running sums of ``count``, and a second copy of them (the fill pointers of a CSR being built)."""
    out, fill = np.empty_like(count), np.empty_like(count)
    acc = 0
    for i in range(count.shape[0]):
        acc += count[i]
        out[i] = fill[i] = acc
    return out, fill


@njit(cache=True)
def _predecessors(links, meta, n):  # pragma: no cover - compiled
    """CSR (ptr, idx) of each layer's distinct predecessors in connection order (dag.predecessors)."""
    count = np.zeros(n + 1, np.int64)
    for e in range(links.shape[0]):
        count[links[e, 1] + 1] += 1
    for i in range(1, n):
        if count[i + 1] == 0 and meta[i, 6] & INPUT == 0:
            count[i + 1] = 1
    ptr, fill = _cumsum(count)
    idx = np.empty(ptr[n], np.int64)
    for e in range(links.shape[0]):
        s, d = links[e, 0], links[e, 1]
        if s == d:
            continue
        seen = False
        for k in range(ptr[d], fill[d]):
            seen = seen or idx[k] == s
        if not seen:
            idx[fill[d]] = s
            fill[d] += 1
    for i in range(1, n):
        if fill[i] == ptr[i] and meta[i, 6] & INPUT == 0:
            idx[fill[i]] = i - 1
            fill[i] += 1
    # compact (self links and duplicates left holes)
    out_ptr = np.zeros(n + 1, np.int64)
    for i in range(n):
        out_ptr[i + 1] = out_ptr[i] + fill[i] - ptr[i]
    out = np.empty(out_ptr[n], np.int64)
    for i in range(n):
        for k in range(fill[i] - ptr[i]):
            out[out_ptr[i] + k] = idx[ptr[i] + k]
    return out_ptr, out


@njit(cache=True)
def _levels(ptr, idx, n):  # pragma: no cover - compiled
    """Longest-path depth, the same Kahn order and cycle cut as dag.levels."""
    scount = np.zeros(n + 1, np.int64)
    for d in range(n):
        for k in range(ptr[d], ptr[d + 1]):
            scount[idx[k] + 1] += 1
    sptr, sfill = _cumsum(scount)
    succ = np.empty(sptr[n], np.int64)
    indeg = np.zeros(n, np.int64)
    for d in range(n):
        for k in range(ptr[d], ptr[d + 1]):
            s = idx[k]
            succ[sfill[s]] = d
            sfill[s] += 1
            indeg[d] += 1
    level = np.zeros(n, np.int64)
    done = np.zeros(n, np.bool_)
    ready = np.empty(n + 1, np.int64)
    top = 0
    for i in range(n):
        if indeg[i] == 0:
            ready[top] = i
            top += 1
    n_done = 0
    while True:
        while top:
            top -= 1
            i = ready[top]
            done[i] = True
            n_done += 1
            for k in range(sptr[i], sptr[i + 1]):
                d = succ[k]
                if done[d]:
                    continue
                level[d] = max(level[d], level[i] + 1)
                indeg[d] -= 1
                if indeg[d] == 0:
                    ready[top] = d
                    top += 1
        if n_done == n:
            return level
        i = 0
        while done[i]:
            i += 1
        indeg[i] = 0
        ready[top] = i
        top += 1


@njit(cache=True)
def _reaches(u, v, ptr, idx, level, seen, stack):  # pragma: no cover - compiled
    seen[:] = False
    stack[0] = v
    seen[v] = True
    top = 1
    while top:
        top -= 1
        x = stack[top]
        if x == u:
            return True
        for k in range(ptr[x], ptr[x + 1]):
            p = idx[k]
            if not seen[p] and level[p] >= level[u]:
                seen[p] = True
                stack[top] = p
                top += 1
    return False


@njit(cache=True)
def _skips(links, level, ptr, idx, n):  # pragma: no cover - compiled
    """Sorted distinct identity jumps (u, v) over more than one level, and each merge's anchor (or -1)."""
    keys = np.empty(links.shape[0], np.int64)
    m = 0
    for e in range(links.shape[0]):
        s, d = links[e, 0], links[e, 1]
        if links[e, 2] and level[d] - level[s] > 1:
            keys[m] = s * n + d
            m += 1
    for a in range(1, m):  # sort (few keys) and drop repeats, as sorted(set(...))
        ka = keys[a]
        b = a - 1
        while b >= 0 and keys[b] > ka:
            keys[b + 1] = keys[b]
            b -= 1
        keys[b + 1] = ka
    u = 0
    for a in range(m):
        if a == 0 or keys[a] != keys[u - 1]:
            keys[u] = keys[a]
            u += 1
    ju, jv = keys[:u] // n, keys[:u] % n
    anchor = np.empty(n, np.int64)
    anchor[:] = -1
    seen = np.zeros(n, np.bool_)
    stack = np.empty(n + 1, np.int64)
    for j in range(ju.shape[0]):
        u, v = ju[j], jv[j]
        if anchor[v] >= 0:
            continue
        others, ok = 0, True
        for k in range(ptr[v], ptr[v + 1]):
            p = idx[k]
            if p != u:
                others += 1
                ok = ok and _reaches(u, p, ptr, idx, level, seen, stack)
        if others and ok:
            anchor[v] = u
    return ju, jv, anchor


@njit(cache=True)
def _lateral(level, n_lv, ptr, idx, width, gaps, ju, jv, anchor):  # pragma: no cover - compiled
    """Lateral centre of each layer (dag.lateral, the same sums in the same order)."""
    n = level.shape[0]
    y = np.zeros(n)
    lcount = np.zeros(n_lv + 1, np.int64)
    for j in range(ju.shape[0]):
        for lv in range(level[ju[j]] + 1, level[jv[j]]):
            lcount[lv + 1] += 1
    lptr, lfill = _cumsum(lcount)
    lanes = np.empty(lptr[n_lv], np.int64)
    for j in range(ju.shape[0]):
        for lv in range(level[ju[j]] + 1, level[jv[j]]):
            lanes[lfill[lv]] = ju[j]
            lfill[lv] += 1
    mcount = np.zeros(n_lv + 1, np.int64)
    for i in range(n):
        mcount[level[i] + 1] += 1
    mptr, mfill = _cumsum(mcount)
    members = np.empty(n, np.int64)
    for i in range(n):
        members[mfill[level[i]]] = i
        mfill[level[i]] += 1
    want = np.empty(n + lptr[n_lv])
    flag = np.empty(n + lptr[n_lv], np.int64)
    key = np.empty(n + lptr[n_lv], np.int64)
    wid = np.empty(n + lptr[n_lv])
    got = np.empty(n + lptr[n_lv])
    for lv in range(n_lv):
        m = 0
        for q in range(mptr[lv], mptr[lv + 1]):
            i = members[q]
            if anchor[i] >= 0:
                w = y[anchor[i]]
            elif ptr[i + 1] > ptr[i]:
                acc = 0.0
                for k in range(ptr[i], ptr[i + 1]):
                    acc += y[idx[k]]
                w = acc / (ptr[i + 1] - ptr[i])
            else:
                w = 0.0
            want[m], flag[m], key[m], wid[m] = w, 1, i, width[i]
            m += 1
        if m == 1 and lptr[lv + 1] == lptr[lv]:
            y[members[mptr[lv]]] = want[0]
            continue
        for j in range(lptr[lv + 1] - lptr[lv]):
            u = lanes[lptr[lv] + j]
            want[m], flag[m], key[m], wid[m] = y[u], 0, -1 - j, width[u]
            m += 1
        for a in range(1, m):  # insertion sort by (want, flag, key), as Python sorts the tuples
            wa, fa, ka, da = want[a], flag[a], key[a], wid[a]
            b = a - 1
            while b >= 0 and (want[b] > wa or (want[b] == wa and (flag[b] > fa or (flag[b] == fa and key[b] > ka)))):
                want[b + 1], flag[b + 1], key[b + 1], wid[b + 1] = want[b], flag[b], key[b], wid[b]
                b -= 1
            want[b + 1], flag[b + 1], key[b + 1], wid[b + 1] = wa, fa, ka, da
        got[0] = want[0]
        for j in range(1, m):
            got[j] = max(want[j], got[j - 1] + (wid[j - 1] + wid[j]) / 2 + gaps[lv])
        n_ref = 0
        for j in range(m):
            n_ref += flag[j] == 0
        acc = 0.0
        for j in range(m):
            if n_ref == 0 or flag[j] == 0:
                acc += want[j] - got[j]
        shift = acc / (n_ref if n_ref else m)
        for j in range(m):
            if flag[j]:
                y[key[j]] = got[j] + shift
    return y


@njit(cache=True)
def _plan_levels(meta, given, given_gap, links, n_neurons, stack, max_aspect, stack_gap, spacing, pitch,
                 depth_ratio, min_gap, spread_max):  # pragma: no cover - compiled
    """Everything up to the unfolded layer centres. Returns ``ip``, ``fp`` (all but the origins), ``geo``
    (L, 9): centre, size and extent (x, y, z each) of every layer, ``level``, the neuron ``spacing``, ``lv``
    (4, levels): x_lo, x_hi, half height and size of every level, ``dag`` (2, E): every DAG link as
    (predecessor, layer), and the scene's extent along y and z."""
    n = meta.shape[0]
    ip = np.empty((n, 8), np.int64)
    fp = np.empty((n, 7))
    unit = np.empty((n, 3))
    own = np.empty(n)
    for i in range(n):
        if meta[i, 5] == GIVEN:
            outer, rows, cols, band, tile_cols, gap, stk = given[i]
            sg = given_gap[i]
        else:
            outer, rows, cols, band, tile_cols, gap, stk = _tiling(meta[i], stack, max_aspect)
            sg = stack_gap if stk else 2.0
        n_bands = -(-cols // band)
        n_tiles = outer * n_bands
        size = (meta[i + 1, 0] if i + 1 < n else n_neurons) - meta[i, 0]
        ip[i, 0], ip[i, 1], ip[i, 2], ip[i, 3] = meta[i, 0], size, rows, cols
        ip[i, 4], ip[i, 5], ip[i, 6], ip[i, 7] = band, n_bands, tile_cols, stk
        fp[i, 4], fp[i, 5], fp[i, 6] = band + gap, rows + gap, sg if stk else 0.0  # times the spacing below
        if stk:
            unit[i, 0], unit[i, 1], unit[i, 2] = (n_tiles - 1) * sg * 1.0, (band - 1) * 1.0, (rows - 1) * 1.0
        else:
            tc = min(tile_cols, n_tiles)
            tr = -(-n_tiles // tc)
            unit[i, 0] = 0.0
            unit[i, 1] = ((tc - 1) * (band + gap) + band - 1) * 1.0
            unit[i, 2] = ((tr - 1) * (rows + gap) + rows - 1) * 1.0
        own[i] = max(unit[i, 1], unit[i, 2]) + 1
    top, cap = own[0], max(1.0, spread_max)
    for i in range(1, n):
        top = max(top, own[i])
    s = np.empty(n)
    geo = np.empty((n, 9))  # centre, size, extent
    for i in range(n):
        s[i] = pitch * min(max(math.sqrt(top / (8 * own[i])), 1.0), cap)
        for d in range(3):
            geo[i, 6 + d] = unit[i, d] * s[i]
            geo[i, 3 + d] = geo[i, 6 + d] + s[i]
        fp[i, 3] = s[i]
        fp[i, 4] = fp[i, 4] * s[i]
        fp[i, 5] = fp[i, 5] * s[i]
        fp[i, 6] = fp[i, 6] * s[i]

    ptr, idx = _predecessors(links, meta, n)
    level = _levels(ptr, idx, n)
    n_lv = 0
    for i in range(n):
        n_lv = max(n_lv, level[i] + 1)
    lv = np.zeros((4, n_lv))  # x_lo, x_hi, half height, size
    depth = np.zeros(n_lv)
    for i in range(n):
        depth[level[i]] = max(depth[level[i]], geo[i, 3])
        lv[3, level[i]] = max(lv[3, level[i]], math.sqrt(geo[i, 4] * geo[i, 5]))
        lv[2, level[i]] = max(lv[2, level[i]], geo[i, 5] / 2)
    lateral_gap = np.empty(n_lv)
    for k in range(n_lv):
        lateral_gap[k] = spacing * max(min_gap * pitch, lv[3, k] / 4)
    ju, jv, anchor = _skips(links, level, ptr, idx, n)
    width = np.empty(n)
    for i in range(n):
        width[i] = geo[i, 4]
    y = _lateral(level, n_lv, ptr, idx, width, lateral_gap, ju, jv, anchor)
    x = np.zeros(n_lv)
    for k in range(1, n_lv):
        a, b = lv[3, k - 1], lv[3, k]
        x[k] = x[k - 1] + (depth[k - 1] + depth[k]) / 2 + spacing * max(min_gap * pitch, depth_ratio * max(a, b))
    for k in range(n_lv):
        lv[0, k] = x[k] - depth[k] / 2
        lv[1, k] = x[k] + depth[k] / 2
    y_lo, y_hi = np.inf, -np.inf
    for i in range(n):
        geo[i, 0], geo[i, 1], geo[i, 2] = x[level[i]], y[i], 0.0
        y_lo = min(y_lo, y[i] - geo[i, 4] / 2)
        y_hi = max(y_hi, y[i] + geo[i, 4] / 2)
    dag = np.empty((2, idx.shape[0]), np.int64)
    for i in range(n):
        for k in range(ptr[i], ptr[i + 1]):
            dag[0, k], dag[1, k] = idx[k], i
    spacing32 = np.empty(n, np.float32)
    for i in range(n):
        spacing32[i] = s[i]
    height = 0.0
    for k in range(n_lv):
        height = max(height, 2 * lv[2, k])
    return ip, fp, geo, level, spacing32, lv, dag, y_hi - y_lo, height


@njit(cache=True)
def _plan_boxes(fp, geo, level, lv_row, dx, dz):  # pragma: no cover - compiled
    """The layers moved into their rows (``lv_row``: the row of each level, empty when not folded; ``dx``,
    ``dz`` per row), the scene centred on the origin: boxes, the origins in ``fp``, and the row per layer."""
    n = geo.shape[0]
    centre = np.empty((n, 3))
    for i in range(n):
        centre[i, 0], centre[i, 1], centre[i, 2] = geo[i, 0], geo[i, 1], geo[i, 2]
    row = np.zeros(n, np.int32)
    if lv_row.shape[0]:
        for i in range(n):
            r = lv_row[level[i]]
            row[i] = r
            centre[i, 0] = centre[i, 0] + dx[r]
            centre[i, 2] = centre[i, 2] + dz[r]
    for d in range(3):
        lo, hi = np.inf, -np.inf
        for i in range(n):
            lo = min(lo, centre[i, d] - geo[i, 3 + d] / 2)
            hi = max(hi, centre[i, d] + geo[i, 3 + d] / 2)
        shift = (lo + hi) / 2
        for i in range(n):
            centre[i, d] = centre[i, d] - shift
    boxes = np.empty((n, 2, 3), np.float32)
    for i in range(n):
        for d in range(3):
            boxes[i, 0, d] = centre[i, d] - geo[i, 3 + d] / 2
            boxes[i, 1, d] = centre[i, d] + geo[i, 3 + d] / 2
        fp[i, 0] = centre[i, 0] - geo[i, 6] / 2
        fp[i, 1] = centre[i, 1] - geo[i, 7] / 2
        fp[i, 2] = centre[i, 2] + geo[i, 8] / 2
    return boxes, row
