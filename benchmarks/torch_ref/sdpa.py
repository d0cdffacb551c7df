"""Reference timings of torch.nn.functional.scaled_dot_product_attention on CPU.

Benchmark-only: run with the separate torch environment (`.venv-bench/bin/python`), never
imported by the project. Shapes follow benchmarks/attention.py's "dense" suite: batch 1,
8 heads x 64, fp32, causal, torch layout [B, N, L, H]. Per length it prints one JSON line
with the forward and forward+backward times (seconds) of every repeat after a warm-up, so
that the caller (`python -m benchmarks.attention --vs-torch`) can interleave these runs with
the JAX ones and take medians. torch picks its fused CPU flash-attention kernel here.

Usage: .venv-bench/bin/python benchmarks/torch_ref/sdpa.py --lengths 512,1024 --repeats 3
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F


def timed(fn, repeats: int) -> list[float]:
  fn()                                                           # warm-up (kernel selection)
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    fn()
    times.append(time.perf_counter() - t0)
  return times


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--lengths", default="512,1024,2048,4096")
  parser.add_argument("--heads", type=int, default=8)
  parser.add_argument("--head-dim", type=int, default=64)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--threads", type=int, default=os.cpu_count())
  parser.add_argument("--no-causal", action="store_true")
  args = parser.parse_args(argv)
  torch.set_num_threads(args.threads)
  causal = not args.no_causal
  for n in [int(x) for x in args.lengths.split(",")]:
    gen = torch.Generator().manual_seed(n)
    shape = (1, args.heads, n, args.head_dim)
    q, k, v, ct = (torch.randn(shape, generator=gen) for _ in range(4))

    def forward():
      with torch.no_grad():
        F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    qg, kg, vg = (x.clone().requires_grad_(True) for x in (q, k, v))

    def forward_backward():
      out = F.scaled_dot_product_attention(qg, kg, vg, is_causal=causal)
      grads = torch.autograd.grad((out * ct).sum(), (qg, kg, vg))
      assert grads[0].shape == qg.shape

    print(json.dumps(dict(length=n, heads=args.heads, head_dim=args.head_dim, causal=causal,
                          threads=torch.get_num_threads(), torch=torch.__version__,
                          fwd_s=timed(forward, args.repeats),
                          fwdbwd_s=timed(forward_backward, args.repeats))), flush=True)


if __name__ == "__main__":
  main()
