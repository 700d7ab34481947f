"""Numba-compiled planning functions run as plain Python, for small inputs: no compiler wait.

Per-level planning (:mod:`~nn3d.layout.fold`) is compiled with ``@njit`` because it grows with the number of
levels times rows, yet for the levels of most models it runs in a few milliseconds as Python, against seconds
of compiling it on a fresh install. :func:`interpreted` gives a function's Python twin, whose calls to other
compiled functions of its module go to their twins too, so that calling it compiles nothing.
"""

from __future__ import annotations

import types

from numba.core.dispatcher import Dispatcher


def _twins(module) -> dict:
    """A copy of ``module``'s globals (as they are now: a test may have changed a constant) with every Numba
    dispatcher replaced by its Python function."""
    g = dict(vars(module))
    for name, value in vars(module).items():
        if isinstance(value, Dispatcher):
            f = value.py_func
            g[name] = types.FunctionType(f.__code__, g, f.__name__, f.__defaults__, f.__closure__)
    return g


def interpreted(module, name: str):
    """The plain-Python twin of the compiled function ``module.name`` (same arguments, same results)."""
    twin = _twins(module)[name]
    if isinstance(getattr(module, name), Dispatcher) and isinstance(twin, types.FunctionType):
        return twin
    raise TypeError(f"{module.__name__}.{name} is not a Numba-compiled function")
