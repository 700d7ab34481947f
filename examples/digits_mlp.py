"""An MLP on scikit-learn's 8x8 digits, trained with a TrainingRecorder, then replayed by nn3d.

    python examples/digits_mlp.py [--out digits_run.nn3d] [--epochs 30]
    nn3d view digits_run.nn3d                       # replay: one frame per recorded step
    nn3d shot examples/digits_mlp.py:factory -o digits.png

``factory()`` returns the (trained) model and a batch of test digits, as ``nn3d view FILE.py:factory`` expects.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from nn3d.ingest import load
from nn3d.recorder import TrainingRecorder


def data(seed: int = 0):
    digits = load_digits()
    x = torch.tensor(digits.data / 16.0, dtype=torch.float32)
    y = torch.tensor(digits.target)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    split = int(0.8 * len(x))
    return x[order[:split]], y[order[:split]], x[order[split:]], y[order[split:]]


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 10))


def train(epochs: int = 30, out: str | None = None, every: int = 10, grads: bool = False):
    """Train with minibatches; record every ``every`` steps when ``out`` is given (with ``grads``, also the probe
    digits' ∂loss/∂activation, for ``--color gradient`` and the gradient-flow panel). Returns (model, test x)."""
    xtr, ytr, xte, yte = data()
    model = make_model()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    options = dict(grads=True, loss_fn=nn.functional.cross_entropy, probe_targets=yte[:8]) if grads else {}
    rec = TrainingRecorder(model, xte[:8], every=every, path=out, **options) if out else None  # crash-safe
    for _ in range(epochs):
        for i in range(0, len(xtr), 128):
            loss = nn.functional.cross_entropy(model(xtr[i : i + 128]), ytr[i : i + 128])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if rec:
                with torch.no_grad():
                    acc = (model(xte).argmax(1) == yte).float().mean()
                rec.step(loss=loss, test_acc=acc)
    if rec:
        rec.save(out)
    with torch.no_grad():
        acc = float((model(xte).argmax(1) == yte).float().mean())
    return model, xte, acc


def factory():
    """The trained MLP and 16 test digits (one frame each)."""
    model, xte, _ = train(epochs=10)
    return model, xte[:16]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="digits_run.nn3d", help="recording to write (default digits_run.nn3d)")
    p.add_argument("--epochs", type=int, default=30)
    args = p.parse_args(argv)
    model, xte, acc = train(args.epochs, args.out)
    net, act = load(args.out)
    print(net.summary())
    print(f"test accuracy {acc:.3f}; {act.n_frames} recorded steps in {args.out}; "
          f"loss {np.nanmax(act.meta['loss']):.3f} -> {act.meta['loss'][-1]:.3f}")
    print(f"replay: nn3d view {args.out}")


if __name__ == "__main__":
    main()
