"""Whole-image reference checks: a few key scenes rendered at 320x240 with default options and fixed seeds,
compared with the PNGs kept in ``tests/reference/``, so that a refactor that changes a picture is caught.

The scenes: the digits demo (``nn3d demo``, as it draws), a small conv net and a small GPT-2 (from a
``transformers`` config; skipped without it). A picture passes when at most :data:`MAX_SHARE` of its pixels
differ from the reference by more than :data:`PIXEL_TOL` (of 255) in a channel and the mean absolute difference
is at most :data:`MAX_MEAN` (Mesa llvmpipe renders the same pixels every run; the tolerance absorbs another
rasteriser's rounding, not a changed picture). On failure the actual image and a diff (red: pixels past the
tolerance, grey: smaller differences, amplified) are written to a temporary folder named in the message.

When a picture is meant to change, look at the new one, then regenerate the references with::

    NN3D_UPDATE_REFERENCES=1 python -m pytest tests/test_reference_images.py

(each scene then writes its PNG and is reported as skipped), and commit the PNGs.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

import nn3d

REFERENCE = Path(__file__).resolve().parent / "reference"
SIZE = (320, 240)
PIXEL_TOL = 24  # of 255: a difference past this in any channel counts the pixel as changed
MAX_SHARE = 0.002  # at most this share of the pixels changed (~150 of 76,800)
MAX_MEAN = 0.5  # mean absolute difference over every channel of every pixel, of 255


def digits(out: Path) -> np.ndarray:
    """The digits demo exactly as ``nn3d demo --size 320x240`` draws it (30 epochs, seeded)."""
    from nn3d.demo import run

    run(str(out), size=SIZE)
    return iio.imread(out)


def conv(out: Path) -> np.ndarray:
    """A small conv net (two convs, a pool, a linear head) on a seeded random 1x12x12 image."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 8, 3, stride=2, padding=1),
                          nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(72, 10)).eval()
    net, acts = nn3d.from_torch(model, torch.randn(1, 1, 12, 12), name="small-cnn")
    return nn3d.screenshot(net, out, acts, size=SIZE)


def transformer(out: Path) -> np.ndarray:
    """A 2-block GPT-2 (32 wide, 2 heads) from a config, random seeded weights, on 8 seeded token ids."""
    pytest.importorskip("transformers")
    import torch
    from transformers import GPT2Config, GPT2Model

    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=64, n_positions=16, bos_token_id=0,
                     eos_token_id=0)
    ids = torch.randint(0, 64, (1, 8), generator=torch.Generator().manual_seed(1))
    net, acts = nn3d.from_torch(GPT2Model(cfg).eval(), ids, name="gpt2-tiny")
    return nn3d.screenshot(net, out, acts, size=SIZE)


SCENES = {"digits": digits, "conv": conv, "transformer": transformer}


def compare(actual: np.ndarray, expected: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(share of pixels past :data:`PIXEL_TOL`, mean absolute difference, per-pixel max difference)."""
    diff = np.abs(actual.astype(np.int16) - expected.astype(np.int16))
    worst = diff.max(axis=-1)
    return float((worst > PIXEL_TOL).mean()), float(diff.mean()), worst


def diff_image(worst: np.ndarray) -> np.ndarray:
    """RGB: red where a pixel is past the tolerance, grey (x8) for the smaller differences, black elsewhere."""
    grey = np.minimum(255, worst.astype(np.int32) * 8).astype(np.uint8)
    img = np.repeat(grey[..., None], 3, axis=-1)
    img[worst > PIXEL_TOL] = (255, 0, 0)
    return img


@pytest.mark.parametrize("name", list(SCENES))
def test_scene_matches_its_reference(name, tmp_path):
    actual = np.asarray(SCENES[name](tmp_path / f"{name}.png"))[..., :3]
    assert actual.shape == (SIZE[1], SIZE[0], 3)
    ref = REFERENCE / f"{name}.png"
    if os.environ.get("NN3D_UPDATE_REFERENCES") == "1":
        REFERENCE.mkdir(exist_ok=True)
        iio.imwrite(ref, actual, compress_level=9)
        pytest.skip(f"wrote {ref} ({ref.stat().st_size:,} bytes): look at it, then commit it")
    assert ref.exists(), f"no reference {ref}: run NN3D_UPDATE_REFERENCES=1 python -m pytest {__file__}"
    expected = iio.imread(ref)[..., :3]
    share, mean, worst = compare(actual, expected)
    if share > MAX_SHARE or mean > MAX_MEAN:
        where = Path(tempfile.mkdtemp(prefix=f"nn3d-reference-{name}-"))
        iio.imwrite(where / "actual.png", actual)
        iio.imwrite(where / "expected.png", expected)
        iio.imwrite(where / "diff.png", diff_image(worst))
        pytest.fail(f"{name}: {share:.2%} of the pixels differ by more than {PIXEL_TOL}/255 (at most "
                    f"{MAX_SHARE:.2%}), mean |difference| {mean:.2f} (at most {MAX_MEAN}); see "
                    f"{where / 'actual.png'}, {where / 'expected.png'} and {where / 'diff.png'}; if the change is "
                    "meant, regenerate with NN3D_UPDATE_REFERENCES=1 (see this test's docstring)")


def test_the_comparison_catches_a_changed_colour():
    """The tolerance is not so loose that a recoloured object passes: one 20x20 patch changed by 40 levels."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (SIZE[1], SIZE[0], 3), dtype=np.uint8)
    noise = rng.integers(-2, 3, base.shape) * (rng.random(base.shape) < 0.2)  # +-2 levels on a fifth of them
    near = np.clip(base.astype(int) + noise, 0, 255).astype(np.uint8)
    share, mean, _ = compare(near, base)
    assert share == 0 and mean <= MAX_MEAN  # rounding passes
    changed = base.copy()
    changed[100:120, 100:120, 0] = (changed[100:120, 100:120, 0].astype(int) + 40) % 256
    share, _, worst = compare(changed, base)
    assert share > MAX_SHARE
    assert (diff_image(worst)[100:120, 100:120] == (255, 0, 0)).all()
