"""Real-model factories for the legibility measurement and the gallery (``nn3d shot benchmarks/gallery.py:bert``).

Each returns ``(model, example_inputs)`` as a ``FILE.py:factory`` spec expects. Built from ``transformers``
configs (random weights, nothing downloaded) and a ResNet-18 written out here (torchvision is not needed).
"""

from __future__ import annotations

import torch
from torch import nn

from nn3d.bench.scenes import bert, gpt2  # noqa: F401 - factories of this gallery, defined once there


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
    def __init__(self, classes: int = 1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = (64, 128, 256, 512)
        cin = 64
        for i, w in enumerate(widths):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(BasicBlock(cin, w, stride), BasicBlock(w, w)))
            cin = w
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18():
    """A ResNet-18 (torchvision's layout) on one 3x112x112 image."""
    torch.manual_seed(0)
    return ResNet18().eval(), torch.randn(1, 3, 112, 112)


def small_mlp():
    """A tiny MLP (the fast model of the legibility test)."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), torch.rand(4, 64)


def vit():
    """ViT-Small/16 (12 layers, 384 wide, 6 heads) on one 224x224 image: 197 tokens."""
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    config = ViTConfig(hidden_size=384, num_attention_heads=6, intermediate_size=1536)
    return ViTModel(config).eval(), torch.randn(1, 3, 224, 224)
