"""Fast version of benchmarks/gan_rings.py (same code path: the task's train_step on a ring
of 8 Gaussians): R3GAN's RpGAN + R1 + R2 covers all 8 modes in every tested seed, and
weight clipping piles the critic's weights at +-c while the gradient penalty does not."""
import numpy as np

from benchmarks import gan_rings as R


def test_rpgan_r1_r2_covers_all_modes_in_every_seed():
  rows = R.run_setting("rpgan_r1_r2", seeds=[0, 1, 2], steps=3000)
  assert [r["modes"] for r in rows] == [8, 8, 8], rows
  assert min(r["high_quality"] for r in rows) > 0.2, rows


def test_clipping_piles_critic_weights_at_c_and_gp_does_not():
  clip = R.run_setting("wgan_clip", seeds=[0], steps=250, hidden=64)
  gp = R.run_setting("wgan_gp", seeds=[0], steps=250, hidden=64)
  assert clip[0]["critic_weights_at_extremes"] > 0.3, clip
  assert gp[0]["critic_weights_at_extremes"] < 0.01, gp


def test_evaluate_counts_modes_and_quality():
  centers = R.ring_centers()
  pts = np.concatenate([centers[:5].repeat(100, 0), np.zeros((500, 2))])   # 5 modes + junk
  m = R.evaluate(pts)
  assert m["modes"] == 5 and abs(m["high_quality"] - 0.5) < 1e-9
