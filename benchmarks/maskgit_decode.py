"""MaskGIT's T-step parallel decoding against one token per pass and against cached
autoregressive decoding (issue 14, the decoding claim).

Three ways to fill N = 64 tokens (8 x 8, a 256-code vocabulary) with networks of one size
(width 128, 4 pre-LN blocks of 4 heads, MLP 512: configs/maskgit.py:digits), random weights
(speed does not depend on them), no tokenizer decode:
- `maskgit_T8`: lib/tasks/masked_decoding.decode, T = 8, cosine schedule: 8 forward passes
  of the bidirectional transformer over all 65 positions (no guidance: one pass per step);
- `maskgit_one_per_pass`: the same decoder and network with T = N and the linear schedule,
  which reveals exactly one token per step: N forward passes over 65 positions;
- `ar_kv_cache`: a causal transformer of the same size (same blocks, width, heads, MLP,
  vocabulary) decoding left to right with a KV cache, one token per pass: N passes, each
  over one new position attending to the cached keys/values (lax.fori_loop, static shapes).
Each is one jitted function; timing: the median of `repeats` calls after compile and one
warm-up, at batch 1 and at a large batch (256). A shared machine: medians, and rerun.

  .venv/bin/python -m benchmarks.maskgit_decode     # -> results/maskgit_decode_cpu.{csv,md}
"""
from __future__ import annotations

from lib.xla_cpu_flags import apply_cpu_flags

apply_cpu_flags()  # before jax starts a backend

import argparse
import csv
import os
import statistics
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp

from benchmarks.machine import machine
from lib.nn.transformer import MlpBlock
from lib.tasks.masked_decoding import decode
from research.maskgit.model import MaskGITTransformer

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
SIZE = dict(width=128, depth=4, num_heads=4, mlp_dim=512)
VOCAB, N = 256, 64
FIELDS = ("method", "batch", "forward_passes", "positions_per_pass", "ms", "ms_per_image",
          "speedup_vs_one_per_pass")


class CausalLM(nn.Module):
  """A pre-LN causal transformer of the MaskGIT size with a KV cache (one position a call).
  `__call__(ids [B], t, cache) -> (logits [B, V], cache)`; cache k, v: [depth, B, N, H, D]."""
  width: int
  depth: int
  num_heads: int
  mlp_dim: int
  vocab: int
  length: int

  @nn.compact
  def __call__(self, ids, t, cache):
    h, d = self.num_heads, self.width // self.num_heads
    x = nn.Embed(self.vocab + 1, self.width, name="embed")(ids)          # id vocab = [BOS]
    x = x + self.param("pos", nn.initializers.normal(0.02), (self.length, self.width))[t]
    keys, values = cache
    visible = jnp.arange(self.length) <= t
    for i in range(self.depth):
      y = nn.LayerNorm(name=f"ln1_{i}")(x)
      q, k, v = (nn.DenseGeneral((h, d), name=f"{n}_{i}")(y) for n in "qkv")
      keys = keys.at[i, :, t].set(k)
      values = values.at[i, :, t].set(v)
      s = jnp.einsum("bhd,bshd->bhs", q, keys[i]) / jnp.sqrt(d)
      s = jnp.where(visible, s, -1e30)                                    # causal: s <= t
      a = jnp.einsum("bhs,bshd->bhd", jax.nn.softmax(s, -1), values[i])
      x = x + nn.DenseGeneral(self.width, axis=(-2, -1), name=f"out_{i}")(a)
      x = x + MlpBlock(self.mlp_dim, name=f"mlp_{i}")(nn.LayerNorm(name=f"ln2_{i}")(x), False)
    return nn.Dense(self.vocab, name="head")(nn.LayerNorm(name="ln_f")(x)), (keys, values)


def maskgit_fn(num_iter: int, schedule: str):
  model = MaskGITTransformer(codebook_size=VOCAB, num_tokens=N, num_classes=10, dropout=0.0,
                             **SIZE)
  params = model.init(jax.random.key(0), jnp.zeros((1, N, 1), jnp.int32),
                      jnp.zeros((1,), jnp.int32))

  @jax.jit
  def run(rng, labels):
    b = labels.shape[0]
    fn = lambda ids: model.apply(params, ids[..., None], labels)[:, :, 0]
    out, _ = decode(fn, jnp.zeros((b, N), jnp.int32), jnp.ones((b, N), bool), rng,
                    num_iter=num_iter, choice_temperature=4.5, schedule=schedule,
                    mask_id=VOCAB)
    return out
  return run


def ar_fn():
  model = CausalLM(vocab=VOCAB, length=N, **SIZE)
  h, d = SIZE["num_heads"], SIZE["width"] // SIZE["num_heads"]

  def empty(b):
    z = jnp.zeros((SIZE["depth"], b, N, h, d), jnp.float32)
    return (z, z)
  params = model.init(jax.random.key(0), jnp.zeros((1,), jnp.int32), 0, empty(1))

  @jax.jit
  def run(rng, labels):
    b = labels.shape[0]

    def body(t, carry):
      ids, prev, cache, key = carry
      key, k = jax.random.split(key)
      logits, cache = model.apply(params, prev, t, cache)
      nxt = jax.random.categorical(k, logits)
      return ids.at[:, t].set(nxt), nxt, cache, key
    start = jnp.full((b,), VOCAB, jnp.int32)                            # [BOS]
    ids, _, _, _ = jax.lax.fori_loop(0, N, body, (jnp.zeros((b, N), jnp.int32), start,
                                                  empty(b), rng))
    return ids
  return run


METHODS = (("maskgit_T8", lambda: maskgit_fn(8, "cosine"), 8, N + 1),
           ("maskgit_one_per_pass", lambda: maskgit_fn(N, "linear"), N, N + 1),
           ("ar_kv_cache", ar_fn, N, 1))


def measure(batches, repeats: int) -> list[dict]:
  rows = []
  for batch in batches:
    labels = jnp.arange(batch, dtype=jnp.int32) % 10
    times = {}
    for name, make, passes, positions in METHODS:
      fn = make()
      jax.block_until_ready(fn(jax.random.key(0), labels))             # compile
      jax.block_until_ready(fn(jax.random.key(1), labels))             # warm-up
      ts = []
      for r in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(jax.random.key(2 + r), labels))
        ts.append(time.perf_counter() - t0)
      times[name] = (statistics.median(ts), passes, positions)
    base = times["maskgit_one_per_pass"][0]
    for name, (sec, passes, positions) in times.items():
      rows.append({"method": name, "batch": batch, "forward_passes": passes,
                   "positions_per_pass": positions, "ms": 1000 * sec,
                   "ms_per_image": 1000 * sec / batch, "speedup_vs_one_per_pass": base / sec})
      print(rows[-1], flush=True)
  return rows


def write(rows, stem: str, argv: str, wall_s: float) -> None:
  os.makedirs(os.path.dirname(stem), exist_ok=True)
  with open(stem + ".csv", "w", newline="") as f:
    w = csv.DictWriter(f, FIELDS)
    w.writeheader()
    w.writerows(rows)
  fmt = {"ms": "{:.1f}", "ms_per_image": "{:.2f}", "speedup_vs_one_per_pass": "{:.2f}"}
  lines = ["# MaskGIT decoding vs one token per pass vs cached autoregressive "
           "(benchmarks/maskgit_decode.py)", "",
           f"Command: `{argv}` (under `flock /tmp/heavy.lock`; {wall_s:.0f} s wall)", "",
           f"Machine: {machine()}", "",
           f"Network: {SIZE}, {N} tokens, vocabulary {VOCAB}, random weights.", "",
           "| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]
  for r in rows:
    lines.append("| " + " | ".join(fmt.get(k, "{}").format(r[k]) for k in FIELDS) + " |")
  lines += ["", "ms: median over repeated calls after compile and warm-up (one jitted "
            "function per method and batch). `maskgit_one_per_pass` is the same network and "
            "decoder revealing one token per step (T = N, linear schedule); `ar_kv_cache` a "
            "causal transformer of the same size with a KV cache, one new position per pass."]
  with open(stem + ".md", "w") as f:
    f.write("\n".join(lines) + "\n")


def main(argv=None) -> int:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--batches", default="1,256")
  p.add_argument("--repeats", type=int, default=5)
  p.add_argument("--out", default="")
  a = p.parse_args(argv)
  t0 = time.perf_counter()
  rows = measure([int(b) for b in a.batches.split(",")], a.repeats)
  stem = a.out or os.path.join(RESULTS, f"maskgit_decode_{jax.devices()[0].platform}")
  write(rows, stem, "python -m benchmarks.maskgit_decode " + " ".join(
      sys.argv[1:] if argv is None else argv), time.perf_counter() - t0)
  print(f"wrote {stem}.csv and {stem}.md")
  return 0


if __name__ == "__main__":
  sys.exit(main())
