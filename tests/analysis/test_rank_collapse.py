"""Rank collapse: the residual against a least-squares argmin and numpy's matrix norms, and the
paper's claim on a random pure-attention stack (collapse) versus one with skip connections."""
import jax
import numpy as np
import pytest

from lib.analysis import rank_collapse as rc


def test_residual_is_the_least_squares_rank_one_fit():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(3, 9, 5))
  for b in range(3):
    best, *_ = np.linalg.lstsq(np.ones((9, 1)), x[b], rcond=None)   # argmin ||X - 1 x^T||_F
    np.testing.assert_allclose(rc.residual(x)[b], x[b] - best, atol=1e-12)
    assert rc.relative_residual(x)[b] == pytest.approx(
        np.linalg.norm(x[b] - best) / np.linalg.norm(x[b]))
  rank_one = np.ones((9, 1)) * rng.normal(size=(1, 5))
  assert rc.relative_residual(rank_one) == pytest.approx(0.0, abs=1e-12)


def test_composite_norm_matches_numpy_matrix_norms():
  x = np.random.default_rng(1).normal(size=(7, 4))
  assert rc.composite_norm(x) == pytest.approx(
      np.sqrt(np.linalg.norm(x, 1) * np.linalg.norm(x, np.inf)))


@pytest.mark.parametrize("seed", [0, 1])
def test_pure_attention_collapses_and_skips_keep_rank(seed):
  layers = rc.init_attention_stack(jax.random.key(seed), depth=5, dim=32, heads=2)
  x = np.random.default_rng(seed).normal(size=(16, 32))
  pure = rc.residual_per_layer(rc.attention_stack(layers, x))
  skip = rc.residual_per_layer(rc.attention_stack(layers, x, skip=True))
  assert pure[0] == skip[0] > 0.9
  # orders of magnitude within a few layers, faster than exponentially (Sec. 2)
  assert pure[4] < 1e-4 * pure[0]
  assert pure[3] < pure[2] ** 1.5
  # with skip connections the residual stays of order one
  assert skip[4] > 0.1 * skip[0]
