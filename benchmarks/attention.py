"""Speed and memory of the attention variants in lib/attention.

Usage (from the repository root):
  python -m benchmarks.attention                 # full run, writes benchmarks/results/
  python -m benchmarks.attention --quick         # a fast subset (lengths 256 and 1024)
  python -m benchmarks.attention --compare benchmarks/results/attention_cpu.csv

Suite "seq": batch 1, 4 heads of size 32, lengths 256..4096; per variant the forward and the
forward+backward time (median of repeats, after compilation) and the compiled peak temporary
memory (`jit(f).lower(...).compile().memory_analysis().temp_size_in_bytes`).
Suite "dense": causal dense attention at batch 1, 8 heads of size 64, lengths 512..4096, three
ways: "xla" (jax.nn.dot_product_attention's XLA path), "blocked" (lib/attention/
blocked_softmax.py, the CPU dispatch's choice for long sequences) and "xla_query_chunks" (the
restructuring tried first: lax.map over 512-query chunks with remat, so the [heads, L, L]
logits never exist at once but each chunk's softmax is still XLA's); timed in interleaved
rounds, medians reported.
Suite "hilo": the HiLo paper's CPU setting (14x14 tokens, dim 768, 12 heads, batch 64,
forward only): HiLo vs spatial-reduction vs local window attention (Pan et al. 2022).
Results: benchmarks/results/attention_<device>.{csv,md,png}. `--compare` flags a row that is
more than 25% slower or uses more than 25% more memory than the stored CSV.

`--vs-torch [PYTHON]` runs only the dense suite, interleaving its rounds with runs of
benchmarks/torch_ref/sdpa.py (torch.nn.functional.scaled_dot_product_attention, same shapes)
under PYTHON (default .venv-bench/bin/python), and writes
benchmarks/results/attention_vs_torch_<device>.{csv,md}.
"""
from __future__ import annotations

import argparse
import csv
import functools
import math
import os
import json
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.machine import machine
from lib.attention import aaren, dot_product, linear, local, masks, performer, routing, sparse

HEADS, HEAD_DIM, WINDOW = 4, 32, 64
LENGTHS = (256, 512, 1024, 2048, 4096)
QUICK_LENGTHS = (256, 1024)
RESULTS = os.path.join(os.path.dirname(__file__), "results")
FIELDS = ("suite", "variant", "length", "batch", "fwd_ms", "fwdbwd_ms", "fwd_temp_mb",
          "fwdbwd_temp_mb")
LINEAR_MEMORY = ("window", "strided", "grid", "linear")      # targets: mem@4096/mem@1024 <= 4.5
DENSE_HEADS, DENSE_HEAD_DIM, DENSE_LENGTHS = 8, 64, (512, 1024, 2048, 4096)
TORCH_SCRIPT = os.path.join(os.path.dirname(__file__), "torch_ref", "sdpa.py")
TORCH_PYTHON = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            ".venv-bench", "bin", "python")


def image_shape(n: int) -> tuple[int, int]:
  """A near-square H x W with H * W = n (n a power of two)."""
  h = 2 ** (int(math.log2(n)) // 2)
  return h, n // h


def grid_attention(q, k, v, grid: int = 8):
  """MaxViT grid attention on a 1-D sequence viewed as an image (kernel only, no projections)."""
  from lib.attention import maxvit
  b, n, heads, d = q.shape
  h, w = image_shape(n)
  part = lambda x: maxvit.grid_partition(x.reshape(b, h, w, heads * d), grid).reshape(
      -1, grid * grid, heads, d)
  out = dot_product.dot_product_attention(part(q), part(k), part(v))
  return maxvit.grid_reverse(out.reshape(-1, grid * grid, heads * d), grid, h, w).reshape(q.shape)


def block_attention(q, k, v, block: int = 8):
  """MaxViT block (P x P window) attention on the same image view."""
  from lib.attention import maxvit
  b, n, heads, d = q.shape
  h, w = image_shape(n)
  part = lambda x: maxvit.block_partition(x.reshape(b, h, w, heads * d), block).reshape(
      -1, block * block, heads, d)
  out = dot_product.dot_product_attention(part(q), part(k), part(v))
  return maxvit.block_reverse(out.reshape(-1, block * block, heads * d), block, h, w).reshape(
      q.shape)


def seq_variants() -> dict:
  """name -> f(q, k, v) for [1, T, HEADS, HEAD_DIM] inputs (causal where the variant is)."""
  def dense_window_mask(q, k, v):                      # the dense-masking baseline for "window"
    t = q.shape[1]
    return dot_product.dot_product_attention(q, k, v, mask=masks.window_mask(t, t, WINDOW, 0))

  def routing_fn(q, k, v):
    t = q.shape[1]
    c = max(1, round(math.sqrt(t)))
    mu = jax.random.normal(jax.random.key(0), (q.shape[2], c, q.shape[3]))
    return routing.routing_attention(q, k, v, mu, window=-(-t // c))[0]

  def performer_fn(q, k, v):
    w = performer.orthogonal_random_features(jax.random.key(0), 128, q.shape[-1])
    return performer.favor_attention(q, k, v, w, is_causal=True)

  def aaren_fn(q, k, v):
    return aaren.aaren_attention(q[:, 0], k, v)

  out = {
      "dense": functools.partial(dot_product.dot_product_attention, is_causal=True),
      "dense_window_mask": dense_window_mask,
      "window": functools.partial(local.local_attention, window=WINDOW, is_causal=True),
      "strided": functools.partial(sparse.sparse_attention, pattern="strided"),
      "fixed": functools.partial(sparse.sparse_attention, pattern="fixed"),
      "linear": functools.partial(linear.linear_attention, is_causal=True),
      "performer": performer_fn,
      "routing": routing_fn,
      "aaren": aaren_fn,
  }
  out["grid"] = grid_attention
  out["block"] = block_attention
  return out


def time_ms(fn, args, min_repeats: int = 3, min_seconds: float = 0.3) -> float:
  jax.block_until_ready(fn(*args))                                     # warm-up
  times = []
  start = time.perf_counter()
  while len(times) < min_repeats or time.perf_counter() - start < min_seconds:
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t0)
    if len(times) >= 20:
      break
  return 1000.0 * statistics.median(times)


def compiled(fn, args):
  """(compiled callable, temp MB)."""
  exe = jax.jit(fn).lower(*args).compile()
  mem = exe.memory_analysis()
  temp = getattr(mem, "temp_size_in_bytes", float("nan")) if mem is not None else float("nan")
  return exe, temp / 2 ** 20


def bench_seq(lengths, variants, log, dtype=jnp.float32) -> list[dict]:
  rows = []
  for name, fn in variants.items():
    for n in lengths:
      rng = np.random.default_rng(n)
      args = tuple(jnp.asarray(rng.standard_normal((1, n, HEADS, HEAD_DIM)), dtype)
                   for _ in range(3))
      ct = jnp.asarray(rng.standard_normal((1, n, HEADS, HEAD_DIM)), dtype)
      loss = lambda q, k, v: jnp.sum(fn(q, k, v) * ct)
      fwd, fwd_mem = compiled(fn, args)
      bwd, bwd_mem = compiled(jax.grad(loss, argnums=(0, 1, 2)), args)
      row = dict(suite="seq", variant=name, length=n, batch=1, fwd_ms=time_ms(fwd, args),
                 fwdbwd_ms=time_ms(bwd, args), fwd_temp_mb=fwd_mem, fwdbwd_temp_mb=bwd_mem)
      log(row)
      rows.append(row)
  return rows


def bench_hilo(batch: int, log, rounds: int = 9) -> list[dict]:
  """HiLo paper CPU setting: 14x14 tokens, dim 768, 12 heads, forward only; median of
  `rounds` interleaved runs."""
  from lib.attention.hilo import HiLo
  from lib.attention.spatial_reduction import LocallyGroupedAttention, SpatialReductionAttention
  dim, heads, hw = 768, 12, (14, 14)
  modules = {
      "hilo": HiLo(dim=dim, num_heads=heads, window_size=2, alpha=0.9),
      "spatial_reduction": SpatialReductionAttention(dim=dim, num_heads=heads, sr_ratio=2),
      "local_window": LocallyGroupedAttention(dim=dim, num_heads=heads, window_size=7),
  }
  x = jnp.asarray(np.random.default_rng(0).standard_normal((batch,) + hw + (dim,)), jnp.float32)
  compiled_fns = {}
  for name, m in modules.items():
    params = jax.jit(m.init)(jax.random.key(0), x)
    fwd, mem = compiled(m.apply, (params, x))
    jax.block_until_ready(fwd(params, x))                                 # warm-up
    compiled_fns[name] = (fwd, params, mem)
  # Round-robin timing, so that load from other processes drifts over all three alike.
  times = {name: [] for name in modules}
  for _ in range(rounds):
    for name, (fwd, params, _) in compiled_fns.items():
      jax.block_until_ready(fwd(params, x))                  # untimed, as in bench_dense
      t0 = time.perf_counter()
      jax.block_until_ready(fwd(params, x))
      times[name].append(time.perf_counter() - t0)
  rows = []
  for name, (_, _, mem) in compiled_fns.items():
    row = dict(suite="hilo", variant=name, length=hw[0] * hw[1], batch=batch,
               fwd_ms=1000.0 * statistics.median(times[name]), fwdbwd_ms=float("nan"),
               fwd_temp_mb=mem, fwdbwd_temp_mb=float("nan"))
    log(row)
    rows.append(row)
  return rows


def query_chunk_attention(q, k, v, chunk: int = 512):
  """Causal softmax attention computed 512 queries at a time under lax.map, each chunk against
  all keys (masked), the chunk body rematerialised in the backward: the restructuring that
  keeps XLA's own softmax but never holds the whole [heads, T, S] logits."""
  b, t, n, h = q.shape
  chunk = min(chunk, t)
  scale = 1.0 / math.sqrt(h)

  @jax.checkpoint
  def one_chunk(args):
    qc, start = args
    logits = jnp.einsum("bqnh,bsnh->bnqs", qc, k, preferred_element_type=jnp.float32) * scale
    visible = jnp.arange(k.shape[1])[None, :] <= start + jnp.arange(chunk)[:, None]
    weights = jax.nn.softmax(jnp.where(visible, logits, -jnp.inf), axis=-1)
    return jnp.einsum("bnqs,bsnh->bqnh", weights.astype(v.dtype), v)

  chunks = q.reshape(b, t // chunk, chunk, n, h).transpose(1, 0, 2, 3, 4)
  out = jax.lax.map(one_chunk, (chunks, jnp.arange(t // chunk) * chunk))
  return out.transpose(1, 0, 2, 3, 4).reshape(b, t, n, h)


def dense_variants() -> dict:
  """name -> causal f(q, k, v) for the dense suite."""
  impl = lambda name: functools.partial(dot_product.dot_product_attention, is_causal=True,
                                        implementation=name)
  return {"xla": impl("xla"), "blocked": impl("blocked"),
          "xla_query_chunks": query_chunk_attention}


def torch_round(python: str, lengths, repeats: int) -> dict:
  """One run of benchmarks/torch_ref/sdpa.py: length -> (fwd times, fwd+bwd times) in s."""
  cmd = [python, TORCH_SCRIPT, "--lengths", ",".join(str(n) for n in lengths),
         "--heads", str(DENSE_HEADS), "--head-dim", str(DENSE_HEAD_DIM),
         "--repeats", str(repeats)]
  lines = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()
  out = {}
  for line in lines:
    d = json.loads(line)
    out[d["length"]] = (d["fwd_s"], d["fwdbwd_s"], d["torch"], d["threads"])
  return out


def bench_dense(lengths, log, rounds: int = 5, dtype=jnp.float32, torch_python=None,
                variants=None) -> list[dict]:
  """Causal dense attention, batch 1, DENSE_HEADS x DENSE_HEAD_DIM: every variant (and torch,
  when `torch_python` is given) timed once per length per round, rounds interleaved, so that
  load from other processes falls on all of them alike; medians over the rounds. Each timed
  call follows an untimed call of the same function: right after XLA's path freed its 1.5 GB
  at 4096 tokens, the next call of another function ran 2.3x slower (measured), which would
  charge one variant for another's memory."""
  variants = variants or dense_variants()
  prepared = {}
  for n in lengths:
    rng = np.random.default_rng(n)
    args = tuple(jnp.asarray(rng.standard_normal((1, n, DENSE_HEADS, DENSE_HEAD_DIM)), dtype)
                 for _ in range(3))
    ct = jnp.asarray(rng.standard_normal((1, n, DENSE_HEADS, DENSE_HEAD_DIM)), dtype)
    for name, fn in variants.items():
      loss = lambda q, k, v, fn=fn: jnp.sum(fn(q, k, v) * ct)
      fwd, fwd_mem = compiled(fn, args)
      bwd, bwd_mem = compiled(jax.grad(loss, argnums=(0, 1, 2)), args)
      jax.block_until_ready((fwd(*args), bwd(*args)))                    # warm-up
      prepared[name, n] = (fwd, bwd, args, fwd_mem, bwd_mem)
  times = {key: ([], []) for key in prepared}
  torch_times, torch_info = {n: ([], []) for n in lengths}, None
  for _ in range(rounds):
    for (name, n), (fwd, bwd, args, _, _) in prepared.items():
      for i, f in enumerate((fwd, bwd)):
        jax.block_until_ready(f(*args))       # untimed: the previous call freed other buffers
        t0 = time.perf_counter()
        jax.block_until_ready(f(*args))
        times[name, n][i].append(time.perf_counter() - t0)
    if torch_python:
      for n, (f, fb, version, threads) in torch_round(torch_python, lengths, 1).items():
        torch_times[n][0].extend(f)
        torch_times[n][1].extend(fb)
        torch_info = f"torch {version}, {threads} threads"
  rows = []
  med = lambda xs: 1000.0 * statistics.median(xs)
  for (name, n), (_, _, _, fwd_mem, bwd_mem) in prepared.items():
    rows.append(dict(suite="dense", variant=name, length=n, batch=1,
                     fwd_ms=med(times[name, n][0]), fwdbwd_ms=med(times[name, n][1]),
                     fwd_temp_mb=fwd_mem, fwdbwd_temp_mb=bwd_mem))
  if torch_python:
    for n in lengths:
      rows.append(dict(suite="dense", variant="torch_sdpa", length=n, batch=1,
                       fwd_ms=med(torch_times[n][0]), fwdbwd_ms=med(torch_times[n][1]),
                       fwd_temp_mb=float("nan"), fwdbwd_temp_mb=float("nan"), note=torch_info))
  rows.sort(key=lambda r: (list(variants).index(r["variant"]) if r["variant"] in variants
                           else len(variants), r["length"]))
  for r in rows:
    log(r)
  return rows


def dense_lines(rows, rounds: int) -> list[str]:
  """Markdown: the dense suite's table and each variant's time relative to the reference
  (torch when present, else xla)."""
  dense = [r for r in rows if r["suite"] == "dense"]
  if not dense:
    return []
  names = list(dict.fromkeys(r["variant"] for r in dense))
  ref = "torch_sdpa" if "torch_sdpa" in names else "xla"
  lengths = sorted({int(r["length"]) for r in dense})
  lines = ["", f"## Dense causal attention (batch 1, {DENSE_HEADS} heads x {DENSE_HEAD_DIM}, "
           f"median of {rounds} interleaved rounds)", "",
           "| variant | length | fwd ms | fwd+bwd ms | fwd temp MB | fwd+bwd temp MB | "
           f"fwd / {ref} | fwd+bwd / {ref} |", "|---|---|---|---|---|---|---|---|"]
  for name in names:
    for n in lengths:
      r, o = lookup(dense, "dense", name, n), lookup(dense, "dense", ref, n)
      if r is None:
        continue
      ratio = lambda key: fmt(float(r[key]) / float(o[key]), 2) if o else "-"
      lines.append(f"| {name} | {n} | {fmt(r['fwd_ms'], 1)} | {fmt(r['fwdbwd_ms'], 1)} | "
                   f"{fmt(r['fwd_temp_mb'], 1)} | {fmt(r['fwdbwd_temp_mb'], 1)} | "
                   f"{ratio('fwd_ms')} | {ratio('fwdbwd_ms')} |")
  notes = {r.get("note") for r in dense if r.get("note")}
  if notes:
    lines += ["", "torch: " + "; ".join(sorted(notes)) + " (scaled_dot_product_attention, "
              "is_causal=True, layout [B, N, L, H], torch's own CPU flash-attention kernel)."]
  b, x = lookup(dense, "dense", "blocked", 4096), lookup(dense, "dense", ref, 4096)
  if b and x and ref == "torch_sdpa":
    ratio = float(b["fwdbwd_ms"]) / float(x["fwdbwd_ms"])
    lines.append(f"- target: blocked fwd+bwd @4096 / torch = {ratio:.2f} "
                 f"({'meets' if ratio <= 1.0 else 'MISSES'} <= 1)")
  return lines


def fmt(x, digits=1):
  return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def lookup(rows, suite, variant, length):
  for r in rows:
    if r["suite"] == suite and r["variant"] == variant and int(r["length"]) == length:
      return r
  return None


def summary(rows) -> list[str]:
  """The targets and the HiLo comparison, as markdown lines."""
  lines = ["## Targets", ""]
  for name in LINEAR_MEMORY:
    a, b = lookup(rows, "seq", name, 1024), lookup(rows, "seq", name, 4096)
    if a and b:
      for key in ("fwd_temp_mb", "fwdbwd_temp_mb"):
        ratio = float(b[key]) / max(float(a[key]), 1e-9)
        ok = "meets" if ratio <= 4.5 else "MISSES"
        note = (" - expected: with stride sqrt(n) each row has ~2 sqrt(n) keys, so the logits "
                "alone grow like n^1.5 (8x)" if name == "strided" and ratio > 4.5 else "")
        lines.append(f"- {name}: {key} @4096 / @1024 = {ratio:.2f} ({ok} <= 4.5){note}")
  w, d = lookup(rows, "seq", "window", 4096), lookup(rows, "seq", "dense_window_mask", 4096)
  if w and d:
    for key in ("fwd_ms", "fwdbwd_ms"):
      ratio = float(d[key]) / float(w[key])
      ok = "meets" if ratio >= 10 else "MISSES"
      lines.append(f"- blocked window vs dense window mask @4096, {key}: {ratio:.1f}x faster "
                   f"({ok} >= 10x)")
  r1, r4 = lookup(rows, "seq", "routing", 1024), lookup(rows, "seq", "routing", 4096)
  if r1 and r4:
    lines.append(f"- routing fwd+bwd time @4096 / @1024 = "
                 f"{float(r4['fwdbwd_ms']) / float(r1['fwdbwd_ms']):.1f} "
                 f"(n^1.5 predicts 8, n^2 predicts 16)")
  hilo = {r["variant"]: r for r in rows if r["suite"] == "hilo"}
  if len(hilo) == 3:
    h = float(hilo["hilo"]["fwd_ms"])
    sr = float(hilo["spatial_reduction"]["fwd_ms"]) / h
    lw = float(hilo["local_window"]["fwd_ms"]) / h
    batch = hilo["hilo"]["batch"]
    lines += ["", "## HiLo CPU comparison (14x14 tokens, dim 768, 12 heads, batch "
              f"{batch}, forward)", "",
              "| | ours | paper |", "|---|---|---|",
              f"| spatial reduction time / HiLo time | {sr:.2f}x | 1.4x |",
              f"| local window time / HiLo time | {lw:.2f}x | 1.6x |"]
  return lines if len(lines) > 2 else []


def write_outputs(rows, stem: str, quick: bool, dtype: str = "float32", rounds: int = 5,
                  title: str = "Attention benchmark") -> None:
  os.makedirs(RESULTS, exist_ok=True)
  with open(stem + ".csv", "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=FIELDS)
    writer.writeheader()
    for r in rows:
      writer.writerow({k: (f"{r[k]:.4f}" if isinstance(r[k], float) else r[k]) for k in FIELDS})
  md = [f"# {title} ({'quick' if quick else 'full'})", "", f"Machine: {machine()}", "",
        f"XLA_FLAGS: {os.environ.get('XLA_FLAGS') or '(unset)'}", ""]
  if any(r["suite"] == "seq" for r in rows):
    md += [f"Suite seq: {dtype}, batch 1, {HEADS} heads x {HEAD_DIM}, window {WINDOW}, causal "
           "where the variant is; time = median ms after compilation; memory = compiled "
           "temporary bytes (MB).", "",
           "| variant | length | fwd ms | fwd+bwd ms | fwd temp MB | fwd+bwd temp MB |",
           "|---|---|---|---|---|---|"]
  for r in rows:
    if r["suite"] == "seq":
      md.append(f"| {r['variant']} | {r['length']} | {fmt(r['fwd_ms'], 2)} | "
                f"{fmt(r['fwdbwd_ms'], 2)} | {fmt(r['fwd_temp_mb'], 2)} | "
                f"{fmt(r['fwdbwd_temp_mb'], 2)} |")
  md += dense_lines(rows, rounds)
  md += [""] + summary(rows)
  with open(stem + ".md", "w") as f:
    f.write("\n".join(md) + "\n")
  if not any(r["suite"] == "seq" for r in rows):
    return
  try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    names = list(dict.fromkeys(r["variant"] for r in rows if r["suite"] == "seq"))
    for i, name in enumerate(names):
      sel = [r for r in rows if r["suite"] == "seq" and r["variant"] == name]
      xs = [r["length"] for r in sel]
      style = dict(marker="os^vD"[i % 5], color=plt.cm.tab20(i % 20), label=name,
                   linestyle="-" if i < 10 else "--")
      axes[0].plot(xs, [r["fwdbwd_ms"] for r in sel], **style)
      axes[1].plot(xs, [max(r["fwdbwd_temp_mb"], 1e-3) for r in sel], **style)
    for ax, title in zip(axes, ("forward+backward time (ms)", "compiled temp memory (MB)")):
      ax.set_xscale("log", base=2)
      ax.set_yscale("log")
      ax.set_xlabel("sequence length")
      ax.set_title(title)
      ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(stem + ".png", dpi=110)
  except ImportError:
    print("matplotlib missing: no plot", file=sys.stderr)


def compare(rows, path: str, tolerance: float = 0.25) -> list[str]:
  """Rows more than `tolerance` slower or heavier than the stored CSV at `path`."""
  with open(path) as f:
    old = list(csv.DictReader(f))
  flags = []
  for r in rows:
    o = lookup(old, r["suite"], r["variant"], int(r["length"]))
    if o is None or int(o["batch"]) != int(r["batch"]):
      continue
    for key in ("fwd_ms", "fwdbwd_ms", "fwd_temp_mb", "fwdbwd_temp_mb"):
      new, ref = float(r[key]), float(o[key])
      if math.isnan(new) or math.isnan(ref) or ref <= 0:
        continue
      if new > (1 + tolerance) * ref:
        flags.append(f"REGRESSION {r['suite']}/{r['variant']}@{r['length']} {key}: "
                     f"{new:.3g} vs {ref:.3g} (+{100 * (new / ref - 1):.0f}%)")
  return flags


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--quick", action="store_true", help="lengths 256, 1024; HiLo batch 8")
  parser.add_argument("--compare", metavar="PATH", help="stored CSV to compare against")
  parser.add_argument("--variants", help="comma-separated subset of the seq variants")
  parser.add_argument("--out", help="output stem (default results/attention_<device>[_quick])")
  parser.add_argument("--lengths", help="comma-separated sequence lengths (e.g. 1024,...,16384 "
                      "on a GPU); default 256..4096")
  parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                      help="dtype of q, k, v in the seq suite (bfloat16 enables cuDNN on GPU)")
  parser.add_argument("--dense-rounds", type=int, default=5,
                      help="interleaved rounds of the dense suite (medians over them)")
  parser.add_argument("--vs-torch", nargs="?", const=TORCH_PYTHON, metavar="PYTHON",
                      help="only the dense suite, interleaved with torch's SDPA run by PYTHON "
                      "(default .venv-bench/bin/python)")
  args = parser.parse_args(argv)
  variants = seq_variants()
  if args.variants:
    variants = {k: v for k, v in variants.items() if k in args.variants.split(",")}
  log = lambda r: print(
      f"{r['suite']:5s} {r['variant']:18s} n={r['length']:5d} b={r['batch']:3d} "
      f"fwd {fmt(r['fwd_ms'], 2):>9s} ms  fwd+bwd {fmt(r['fwdbwd_ms'], 2):>9s} ms  "
      f"temp {fmt(r['fwd_temp_mb'], 2):>8s} / {fmt(r['fwdbwd_temp_mb'], 2):>8s} MB", flush=True)
  device = jax.devices()[0].platform
  suffix = ("_quick" if args.quick else "") + ("" if args.dtype == "float32" else f"_{args.dtype}")
  dense_lengths = (512, 1024) if args.quick else DENSE_LENGTHS
  if args.vs_torch:
    if not os.path.exists(args.vs_torch):
      print(f"no torch environment at {args.vs_torch}: create it (pip install torch into "
            ".venv-bench) or pass its python to --vs-torch", file=sys.stderr)
      return 2
    rows = bench_dense(dense_lengths, log, rounds=args.dense_rounds,
                       dtype=jnp.dtype(args.dtype), torch_python=args.vs_torch)
    stem = args.out or os.path.join(RESULTS, f"attention_vs_torch_{device}{suffix}")
    write_outputs(rows, stem, args.quick, args.dtype, args.dense_rounds,
                  title="Dense attention: JAX vs torch")
    print("\n".join(dense_lines(rows, args.dense_rounds)))
    print(f"wrote {stem}.csv, .md")
    return 0
  lengths = ([int(n) for n in args.lengths.split(",")] if args.lengths
             else QUICK_LENGTHS if args.quick else LENGTHS)
  rows = bench_seq(lengths, variants, log, dtype=jnp.dtype(args.dtype))
  if not args.variants:
    rows += bench_dense(dense_lengths, log, rounds=2 if args.quick else args.dense_rounds,
                        dtype=jnp.dtype(args.dtype))
  rows += bench_hilo(8 if args.quick else 64, log, rounds=3 if args.quick else 9)
  stem = args.out or os.path.join(RESULTS, f"attention_{device}{suffix}")
  write_outputs(rows, stem, args.quick, args.dtype, args.dense_rounds)
  print("\n".join(summary(rows)))
  print(f"wrote {stem}.csv, .md, .png")
  if args.compare:
    flags = compare(rows, args.compare)
    print("\n".join(flags) if flags else f"no regression vs {args.compare}")
    return 1 if flags else 0
  return 0


if __name__ == "__main__":
  sys.exit(main())
