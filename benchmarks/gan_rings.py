"""Mode coverage on a ring of 8 Gaussians, several seeds per setting, through the GAN task.

Usage (from the repository root):
  python -m benchmarks.gan_rings                # full run, writes benchmarks/results/gan_rings.*
  python -m benchmarks.gan_rings --quick        # fewer seeds and steps

Data: 8 Gaussians of std 0.05 on a circle of radius 2 (the ring of Metz et al. 2017, also
used by R3GAN, Huang et al. 2024, Sec. 3). Models: MLP generator and discriminator (3 hidden
layers of 128 ReLU units, z of dimension 64; research/gan_rings/model.py). The geometry, the
sampler and the metric live in lib/data/rings.py; the same runs through launch.py and the
sweep machinery are configs/gan_study.py:rings. Every setting trains with the real
`lib.tasks.gan.train_step` (its losses and regularizers, no copy): the 2-D points are fed as
[B, 1, 1, 2] "images", and all seeds train at once under jax.vmap.

Metrics on 2,000 samples: a mode is covered when at least 1% of the samples (20) lie within
3 std of its center; the high-quality fraction is the share of samples within 3 std of any
center. For every critic we also report the fraction of its kernel weights at the extremes of
their range, |w| >= 0.99 max|w|: with clipping max|w| = c and the weights pile at +-c
(WGAN-GP, Gulrajani et al. 2017, Fig. 1b); an unclipped critic has few weights at its max.

Settings:
  rpgan_r1_r2     relativistic pairing loss + R1 + R2 (gamma 0.1 each; R3GAN Eq. 2-3)
  nonsaturating   plain non-saturating GAN, no regularization
  wgan_clip       WGAN critic with weight clipping c = 0.01, n_critic 5
  wgan_gp         WGAN-GP, lambda 0.1 (the paper's toy setting), n_critic 5, Adam (0.5, 0.9)
Optimizers: Adam, lr 1e-3 with cosine decay for every setting (the papers' toy runs use
1e-4 for 100k iterations; we train a few thousand). RpGAN and NS: b1 = 0, b2 = 0.99.
WGAN-clip: the paper's RMSProp is Adam with b1 = 0, b2 = 0.999 (RMSProp with bias
correction; the shared optimizer module has no RMSProp).
"""
from __future__ import annotations

import argparse
import csv
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.machine import machine
from configs.gan_study import rings_config
from lib.data.rings import NUM_MODES, RADIUS, STD, mode_coverage, ring_centers, sample_ring  # noqa: F401
from lib.tasks import gan
from lib.xla_cpu_flags import FULL_OPTIMISATION
from lib.train.ring_evaluators import generator_points
from research.gan_rings.model import MLPDiscriminator, MLPGenerator  # noqa: F401

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
SETTINGS = ("rpgan_r1_r2", "nonsaturating", "wgan_clip", "wgan_gp")


def ring_config(setting: str, steps: int, batch: int = 128, hidden: int = 128):
  """configs/gan_study.py's rings base (MLP, z 64, Adam b1 0 b2 0.99) with `setting`."""
  c = rings_config(steps, batch, hidden)
  adam = dict(name="adam", schedule="cosine", b1=0.0, b2=0.99)
  if setting == "rpgan_r1_r2":
    c.gan.update(loss="relativistic", r1_gamma=0.1, r2_gamma=0.1)
    lr = 1e-3
  elif setting == "nonsaturating":
    c.gan.update(loss="nonsaturating")
    lr = 1e-3
  elif setting == "wgan_clip":
    c.gan.update(loss="wasserstein", weight_clip=0.01, n_critic=5)
    adam.update(b2=0.999)
    lr = 1e-3
  elif setting == "wgan_gp":
    c.gan.update(loss="wasserstein", gp_weight=0.1, n_critic=5)
    adam.update(b1=0.5, b2=0.9)
    lr = 1e-3
  else:
    raise ValueError(f"setting {setting!r}: use one of {SETTINGS}")
  c.optimizer_g.update(learning_rate=lr, **adam)
  c.optimizer_d.update(learning_rate=lr, **adam)
  c.data.batch_size = batch * c.gan.n_critic
  return c


def train_rings(config, seeds, steps: int, chunk: int = 250):
  """Trains one GAN per seed (vmapped) with the task's train_step; returns the final states."""
  if steps % chunk:
    raise ValueError(f"steps={steps} must be a multiple of chunk={chunk}")
  bsz = config.data.batch_size
  example = {"image": jnp.zeros((bsz, 1, 1, 2)), "label": jnp.zeros((bsz,), jnp.int32)}
  keys = jnp.stack([jax.random.key_data(jax.random.key(int(s))) for s in seeds])
  keys = jax.vmap(jax.random.wrap_key_data)(keys)
  states = jax.vmap(lambda k: gan.init(config, k, example))(keys)

  def one(state, key, step):
    kd, ks = jax.random.split(jax.random.fold_in(key, step))
    x = sample_ring(kd, bsz).reshape(bsz, 1, 1, 2)
    batch = {"image": x, "label": jnp.zeros((bsz,), jnp.int32)}
    return gan.train_step(config, state, batch, ks)[0]

  # A runtime-bound loop: compiled at XLA's default LLVM optimisation whatever XLA_FLAGS say
  # (the test session lowers it for its compile-bound programs: conftest.py).
  @functools.partial(jax.jit, compiler_options=FULL_OPTIMISATION)
  def run_chunk(states, start):
    def body(s, i):
      return jax.vmap(one, in_axes=(0, 0, None))(s, keys, start + i), None
    return jax.lax.scan(body, states, jnp.arange(chunk))[0]

  done = 0
  while done < steps:
    states = run_chunk(states, done)
    done += chunk
  return states


def evaluate(points: np.ndarray) -> dict:
  """Modes covered (>= 1% of samples within 3 std) and the high-quality fraction."""
  return mode_coverage(points)


def samples_of(config, states, n: int = 2000):
  """Generator outputs per seed (not gan.sample, which clips images to [-1, 1])."""
  keys = jax.random.split(jax.random.key(123), jax.tree.leaves(states.step)[0].shape[0])
  return np.asarray(jax.jit(jax.vmap(lambda s, k: generator_points(config, s, k, n)))(
      states, keys))


def weights_at_extremes(params_d) -> np.ndarray:
  """Per seed: the fraction of critic kernel entries at the extremes of their range,
  |w| >= 0.99 max|w| (with clipping, max|w| = c: the weights piled at +-c)."""
  kernels = [v for p, v in jax.tree_util.tree_flatten_with_path(params_d)[0]
             if "kernel" in jax.tree_util.keystr(p)]
  flat = jnp.abs(jnp.concatenate([k.reshape(k.shape[0], -1) for k in kernels], axis=1))
  return np.asarray(jnp.mean(flat >= 0.99 * jnp.max(flat, axis=1, keepdims=True), axis=1))


def run_setting(setting: str, seeds, steps: int, hidden: int = 128) -> list[dict]:
  config = ring_config(setting, steps, hidden=hidden)
  t = time.time()
  states = train_rings(config, seeds, steps)
  pts = samples_of(config, states)
  pile = weights_at_extremes(states.params["D"])
  rows = []
  for i, s in enumerate(seeds):
    m = evaluate(pts[i])
    rows.append({"setting": setting, "seed": int(s), "steps": steps, **m,
                 "critic_weights_at_extremes": float(pile[i]),
                 "wall_s": round((time.time() - t) / len(seeds), 2)})
  return rows


def main(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--quick", action="store_true")
  ap.add_argument("--seeds", type=int, default=0)
  ap.add_argument("--steps", type=int, default=0)
  ap.add_argument("--out", default=os.path.join(RESULTS, "gan_rings"))
  args = ap.parse_args(argv)
  n_seeds = args.seeds or (3 if args.quick else 8)
  steps = args.steps or (1000 if args.quick else 4000)
  seeds = list(range(n_seeds))
  rows = []
  for setting in SETTINGS:
    rows += run_setting(setting, seeds, steps)
    r = [x for x in rows if x["setting"] == setting]
    print(setting, "modes", [x["modes"] for x in r], "hq",
          [round(x["high_quality"], 2) for x in r], flush=True)
  write(rows, args.out, steps, n_seeds)


def write(rows, stem: str, steps: int, n_seeds: int):
  os.makedirs(os.path.dirname(stem), exist_ok=True)
  with open(stem + ".csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)
  lines = [f"# Ring of 8 Gaussians: mode coverage ({n_seeds} seeds, {steps} G steps each)", "",
           f"Machine: {machine()}. Command: "
           "`python -m benchmarks.gan_rings`. Details in benchmarks/gan_rings.py.",
           "",
           "| setting | modes per seed (of 8) | all 8 in every seed | high-quality fraction "
           "(mean) | critic weights at +-max, i.e. +-c when clipped (mean) |",
           "|---|---|---|---|---|"]
  for s in dict.fromkeys(r["setting"] for r in rows):
    r = [x for x in rows if x["setting"] == s]
    modes = [x["modes"] for x in r]
    lines.append(f"| {s} | {' '.join(map(str, modes))} | {all(m == 8 for m in modes)} | "
                 f"{np.mean([x['high_quality'] for x in r]):.3f} | "
                 f"{np.mean([x['critic_weights_at_extremes'] for x in r]):.3f} |")
  with open(stem + ".md", "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))


if __name__ == "__main__":
  main()
