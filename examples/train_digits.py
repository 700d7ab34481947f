"""Train the digits MLP with the training recorder and write the recording (a thin entry to digits_mlp.py).

    python examples/train_digits.py --out run.nn3d [--epochs 30] [--every 10]
    nn3d view run.nn3d                                   # replay with the analysis panels
    nn3d record run.nn3d --animate training -o run.mp4   # the replay as a video
    nn3d plot run.nn3d --panel curves -o curves.png      # one panel alone: weights|hist|curves|function
    python examples/train_digits.py --grads --out run.nn3d   # also ∂loss/∂activation of the probe digits:
    nn3d shot run.nn3d --color gradient -o grads.png     # neurons coloured by their gradient
    nn3d plot run.nn3d --panel gradflow -o flow.png      # each layer's gradient norm over the steps

The training is :func:`digits_mlp.train`; the recorder is :class:`nn3d.analysis.BiasRecorder`, which also keeps
each layer's bias at every record, for the bias histograms.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import digits_mlp  # noqa: E402

from nn3d.analysis.biases import BiasRecorder  # noqa: E402
from nn3d.recorder import Recording  # noqa: E402


def train(out: str, epochs: int = 30, every: int = 10, grads: bool = False):
    """Train and record to ``out`` (``grads``: with gradients); returns (model, test digits, test accuracy)."""
    plain = digits_mlp.TrainingRecorder
    digits_mlp.TrainingRecorder = BiasRecorder  # digits_mlp.train records through this name
    try:
        return digits_mlp.train(epochs, out, every, grads)
    finally:
        digits_mlp.TrainingRecorder = plain


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="run.nn3d", help="recording to write (default run.nn3d)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--every", type=int, default=10, help="record weights and activations every N steps")
    p.add_argument("--grads", action="store_true",
                   help="also record the probe digits' gradients (TrainingRecorder(grads=True))")
    args = p.parse_args(argv)
    _, _, acc = train(args.out, args.epochs, args.every, args.grads)
    rec = Recording(args.out)
    print(f"{args.out}: {len(rec.steps)} steps, {len(rec.record_steps)} records, loss "
          f"{rec.loss[0]:.3f} -> {rec.loss[-1]:.3f}, test accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
