"""``nn3d demo``: train a small MLP on scikit-learn's 8x8 digits (a few seconds), then draw it on one
test digit: the input layer is the digit's image, the output layer lights up the predicted class, and the
edges drawn are the strongest contributions |w * a| of this digit's forward pass."""

from __future__ import annotations

import time

import numpy as np


class Stages:
    """Prints how long each stage took, as it ends."""

    def __init__(self):
        self.t = time.perf_counter()

    def done(self, what: str) -> None:
        now = time.perf_counter()
        print(f"  {what:<34} {now - self.t:6.2f} s", flush=True)
        self.t = now


def digits_model(epochs: int = 30, seed: int = 0):
    """Train 64-64-32-10 on the digits' training split for ``epochs`` epochs (seeded: the same model each run).

    Returns (model, test images (n, 8, 8) float32 in [0, 1], test labels, test accuracy)."""
    import torch
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    torch.manual_seed(seed)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    x_tr, x_te, y_tr, y_te = train_test_split(x, digits.target, test_size=0.25, random_state=seed,
                                              stratify=digits.target)
    model = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32),
        torch.nn.ReLU(), torch.nn.Linear(32, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt)).split(128):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = float((model(torch.from_numpy(x_te)).argmax(1).numpy() == y_te).mean())
    return model, x_te, y_te, accuracy


def run(out: str | None = None, size=(1600, 1000), sample: int = 0, epochs: int = 30, hud: bool = False) -> int:
    """Train, then draw one test digit: to ``out`` (PNG), else in a window, else to nn3d-demo.png.

    ``hud`` draws the explorer's overlays and picks the predicted class's output neuron, as a click would."""
    import torch

    from . import from_torch
    from .render.backend import has_display
    from .render.explorer import explore, screenshot

    stages = Stages()
    print("nn3d demo: a 64-64-32-10 MLP on scikit-learn's handwritten digits", flush=True)
    model, x_te, y_te, accuracy = digits_model(epochs)
    stages.done(f"train {epochs} epochs (test accuracy {accuracy:.1%})")
    sample %= len(x_te)
    # drawn with a softmax on top, so that the output layer shows class probabilities
    shown = torch.nn.Sequential(*model, torch.nn.Softmax(dim=1))
    net, acts = from_torch(shown, torch.from_numpy(x_te[sample : sample + 1]), name="digits-mlp")
    p = acts.frame(0)[net.layers[-1].neurons]
    title = (f"digit {y_te[sample]} (test sample {sample})  ->  predicted {int(p.argmax())} "
             f"({p.max():.0%})   |   {net.n_neurons} neurons, test accuracy {accuracy:.1%}")
    stages.done("record activations")
    if out is None and not has_display():
        out = "nn3d-demo.png"
        print(f"  no display: writing {out} instead of opening a window", flush=True)
    if out is None:
        print("  opening a window (drag to rotate, scroll to zoom, close it to exit)", flush=True)
        explore(net, acts, title=title)
        return 0
    predicted = net.layers[-1].start + int(p.argmax())
    screenshot(net, out, acts, size=size, title=title, hud=hud, select=predicted if hud else None)
    stages.done(f"render {size[0]}x{size[1]} offscreen")
    print(f"wrote {out}")
    return 0
