"""The model's graph as a DAG of layers: depth (level) of each layer and its lateral slot within a level.

Depth is the longest path from an input in topological order, so parallel branches (a residual block's main
path and its downsample, an inception block's towers, encoder and decoder paths) start at the same depth and
stand side by side, and a merge (add, concat) comes after its longest branch. Within a level, layers are
ordered by the mean lateral position of the layers that feed them (one barycentre sweep) and pushed apart
just enough not to overlap, so that a branch keeps its lane until it merges.
"""

from __future__ import annotations

import numpy as np

from ..network import Network


def predecessors(net: Network) -> list[list[int]]:
    """For each layer, the distinct layers with a connection into it (any connection kind).

    A layer that nothing feeds and that is not an input is read as following the layer before it, so that a
    network given without connections still reads as a chain rather than a pile at depth 0.
    """
    preds: list[list[int]] = [[] for _ in net.layers]
    for c in net.connections:
        if c.src != c.dst and c.src not in preds[c.dst]:
            preds[c.dst].append(c.src)
    for i, layer in enumerate(net.layers):
        if i and not preds[i] and layer.kind != "input":
            preds[i].append(i - 1)
    return preds


def levels(net: Network, preds: list[list[int]] | None = None) -> np.ndarray:
    """int32 (n_layers,) longest-path depth of each layer; a cycle (not expected) is cut at its back edge in
    layer order."""
    preds = predecessors(net) if preds is None else preds
    n = len(net.layers)
    succ: list[list[int]] = [[] for _ in range(n)]
    indeg = [0] * n
    for d, ps in enumerate(preds):
        for s in ps:
            succ[s].append(d)
            indeg[d] += 1
    level = [0] * n
    done = [False] * n
    ready = [i for i in range(n) if indeg[i] == 0]
    n_done = 0
    while True:
        while ready:
            i = ready.pop()
            done[i] = True
            n_done += 1
            for d in succ[i]:
                if done[d]:  # a back edge of a cut cycle
                    continue
                level[d] = max(level[d], level[i] + 1)
                indeg[d] -= 1
                if indeg[d] == 0:
                    ready.append(d)
        if n_done == n:
            return np.array(level, np.int32)
        i = done.index(False)  # break a cycle at its first layer
        indeg[i] = 0
        ready.append(i)


def skips(net: Network, level: np.ndarray, preds: list[list[int]]) -> tuple[list[tuple[int, int]], dict]:
    """Identity connections that jump over levels (residual skips), and for each merge the skip source it
    should line up with: the one that is an ancestor of all the merge's other inputs (a skip around a
    branch), so that the trunk runs straight and the branch sits beside it."""
    jumps = sorted({(c.src, c.dst) for c in net.connections
                    if c.kind == "identity" and level[c.dst] - level[c.src] > 1})
    anchor = {}
    for u, v in jumps:
        others = [p for p in preds[v] if p != u]
        if others and all(_reaches(u, p, preds, level) for p in others):
            anchor.setdefault(v, u)
    return jumps, anchor


def _reaches(u: int, v: int, preds: list[list[int]], level: np.ndarray) -> bool:
    """Whether there is a path u -> ... -> v (searched backwards from v, never below u's level)."""
    stack, seen = [v], {v}
    while stack:
        x = stack.pop()
        if x == u:
            return True
        for p in preds[x]:
            if p not in seen and level[p] >= level[u]:
                seen.add(p)
                stack.append(p)
    return False


def lateral(level: np.ndarray, preds: list[list[int]], widths, gaps,
            jumps: list[tuple[int, int]] = (), anchor: dict | None = None) -> np.ndarray:
    """float64 (n_layers,) lateral centre of each layer.

    Per level, a layer wants the mean of its predecessors' centres (a merge with an ``anchor``: that skip
    source's centre). A skip ``(u, v)`` reserves a lane as wide as ``u`` at every level it jumps over, at
    ``u``'s centre, so that its edges pass through empty space and the branch it bypasses stands beside it.
    Sorted by wanted position (lanes first on ties), items are pushed apart to ``(w_a + w_b) / 2 + gap``;
    then the level is shifted back so that its lanes sit where they want (or, without lanes, so that on
    average no layer moved).
    """
    anchor = anchor or {}
    width, gaps = list(widths), list(gaps)
    y = [0.0] * len(level)
    lanes: dict[int, list[int]] = {}
    for u, v in jumps:
        for lv in range(int(level[u]) + 1, int(level[v])):
            lanes.setdefault(lv, []).append(u)
    by_level: list[list[int]] = [[] for _ in range(int(level.max()) + 1)]
    for i, lv in enumerate(level.tolist()):
        by_level[lv].append(i)
    for lv, members in enumerate(by_level):
        want = [y[anchor[i]] if i in anchor else (sum(y[p] for p in preds[i]) / len(preds[i]) if preds[i] else 0.0)
                for i in members]
        if len(members) == 1 and lv not in lanes:  # a plain chain link: it goes where it wants
            y[members[0]] = want[0]
            continue
        items = [(w, 1, int(i), width[i]) for w, i in zip(want, members)]
        items += [(y[u], 0, -1 - j, width[u]) for j, u in enumerate(lanes.get(lv, ()))]
        items.sort()
        got = [it[0] for it in items]
        for j in range(1, len(items)):
            got[j] = max(got[j], got[j - 1] + (items[j - 1][3] + items[j][3]) / 2 + gaps[lv])
        ref = [j for j, it in enumerate(items) if it[1] == 0] or range(len(items))
        shift = sum(items[j][0] - got[j] for j in ref) / len(ref)
        for it, g in zip(items, got):
            if it[1]:
                y[it[2]] = g + shift
    return np.array(y)
