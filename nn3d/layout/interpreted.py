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
    dispatcher replaced by its Python function, and every plain function of the module rebound to those
    globals (a Python wrapper around a compiled pass then calls the pass's twin)."""
    g = dict(vars(module))
    for name, value in vars(module).items():
        f = value.py_func if isinstance(value, Dispatcher) else value
        if isinstance(f, types.FunctionType) and f.__module__ == module.__name__:
            g[name] = types.FunctionType(f.__code__, g, f.__name__, f.__defaults__, f.__closure__)
            g[name].__kwdefaults__ = f.__kwdefaults__
    return g


def interpreted(module, name: str):
    """The plain-Python twin of the compiled function ``module.name``, or of a Python function of the module
    that calls compiled ones (same arguments, same results)."""
    value = getattr(module, name)
    if isinstance(value, Dispatcher) or (isinstance(value, types.FunctionType) and value.__module__ == module.__name__):
        return _twins(module)[name]
    raise TypeError(f"{module.__name__}.{name} is neither compiled nor a function of that module")
