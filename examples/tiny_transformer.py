"""A small GPT-2 built from a transformers config (random weights, nothing downloaded), traced by nn3d.

Tokens become an axis of every layer: each layer is (tokens, features).

    python examples/tiny_transformer.py [--tokens 16] [--gpt2-small]
    nn3d shot examples/tiny_transformer.py:factory -o gpt.png
    nn3d shot examples/tiny_transformer.py:gpt2_small -o gpt2.png   # 124M parameters, 32 tokens
"""

from __future__ import annotations

import argparse
import os
import time

import torch

import nn3d

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # build from configs only: never reach the network


def make_model(small: bool = False):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    if small:  # the 124M-parameter default configuration
        cfg = GPT2Config()
    else:
        cfg = GPT2Config(n_layer=4, n_embd=64, n_head=4, vocab_size=1000, n_positions=128,
                         bos_token_id=0, eos_token_id=0)
    return GPT2LMHeadModel(cfg).eval()


def factory(tokens: int = 16, small: bool = False):
    """The model and a batch of 2 seeded token-id sequences."""
    model = make_model(small)
    ids = torch.randint(0, model.config.vocab_size, (2, tokens), generator=torch.Generator().manual_seed(0))
    return model, ids


def gpt2_small():
    """GPT-2 124M (default config, random weights) on one 32-token sequence:
    ``nn3d shot examples/tiny_transformer.py:gpt2_small -o gpt2.png``."""
    model, ids = factory(tokens=32, small=True)
    return model, ids[:1]


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=16)
    p.add_argument("--gpt2-small", action="store_true", help="the 124M default config instead of a tiny one")
    args = p.parse_args(argv)
    start = time.perf_counter()
    model, ids = factory(args.tokens, args.gpt2_small)
    built = time.perf_counter()
    net, act = nn3d.from_torch(model, ids[:1])
    done = time.perf_counter()
    print(net.summary())
    print(f"{sum(p.numel() for p in model.parameters()):,} parameters, {net.n_neurons:,} neurons; "
          f"built in {built - start:.1f} s, ingested in {done - built:.1f} s")


if __name__ == "__main__":
    main()
