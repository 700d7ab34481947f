"""A small CNN with pooling and a residual block, traced by nn3d (and optionally exported to ONNX).

    python examples/small_cnn.py [--onnx small_cnn.onnx]
    nn3d shot examples/small_cnn.py:factory -o cnn.png
    nn3d shot small_cnn.onnx -o cnn_onnx.png        # the same network, read from the ONNX file
"""

from __future__ import annotations

import argparse

import torch
from torch import nn

import nn3d


class Residual(nn.Module):
    """conv-bn-relu-conv-bn, plus the input, then relu (a ResNet basic block)."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(out)) + x)


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),       # 8 x 14 x 14
        Residual(8),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),      # 16 x 7 x 7
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),        # global average pooling
    ).eval()


def factory():
    """The CNN (random weights) and a batch of 4 seeded 28x28 inputs."""
    x = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return make_model(), x


def digits():
    """The CNN (random weights) on 4 of scikit-learn's digits, upsampled to 28x28: feature maps that look
    like the digit (``nn3d shot examples/small_cnn.py:digits``)."""
    from sklearn.datasets import load_digits

    images = torch.tensor(load_digits().images[:4] / 16.0, dtype=torch.float32)[:, None]
    return make_model(), torch.nn.functional.interpolate(images, size=(28, 28), mode="bilinear")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--onnx", help="also export the model to this .onnx file (needs the onnx package)")
    args = p.parse_args(argv)
    model, x = factory()
    net, act = nn3d.from_torch(model, x)
    print(net.summary())
    print(f"{act.n_frames} frames x {act.n_neurons:,} neurons")
    if args.onnx:
        torch.onnx.export(model, (x[:1],), args.onnx, dynamo=False, do_constant_folding=False,
                          input_names=["input"], dynamic_axes={"input": {0: "batch"}})
        print(f"wrote {args.onnx}: nn3d shot {args.onnx} -o cnn.png")


if __name__ == "__main__":
    main()
