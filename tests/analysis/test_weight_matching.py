"""Weight matching recovers a hidden permutation exactly; the loss barrier against a closed
form."""
import jax
import numpy as np
import pytest

from lib.analysis import weight_matching as wm
from lib.errors import DataError


def _mlp(rng, widths):
  return [(rng.normal(size=(i, o)) / np.sqrt(i), rng.normal(size=(o,)) * 0.1)
          for i, o in zip(widths[:-1], widths[1:])]


@pytest.mark.parametrize("seed", [0, 1])
def test_weight_matching_recovers_a_hidden_permutation(seed):
  rng = np.random.default_rng(seed)
  a = _mlp(rng, [5, 16, 12, 9, 3])
  hidden = [rng.permutation(16), rng.permutation(12), rng.permutation(9)]
  b = wm.permute_mlp(a, hidden)
  x = rng.normal(size=(7, 5))
  np.testing.assert_allclose(wm.mlp_apply(b, x), wm.mlp_apply(a, x), atol=1e-5)  # same function (float32 relu)
  assert not np.allclose(b[0][0], a[0][0])
  perms = wm.weight_matching(a, b, seed=seed)
  for got, pi in zip(perms, hidden):
    np.testing.assert_array_equal(got, np.argsort(pi))     # the inverse permutation
  for (ka, ba), (kb, bb) in zip(a, wm.permute_mlp(b, perms)):
    np.testing.assert_array_equal(kb, ka)
    np.testing.assert_array_equal(bb, ba)


def test_matching_never_lowers_the_objective_on_unrelated_models():
  rng = np.random.default_rng(2)
  a, b = _mlp(rng, [4, 10, 8, 2]), _mlp(rng, [4, 10, 8, 2])
  perms = wm.weight_matching(a, b)
  before = wm._objective(wm._check(a, "a"), wm._check(b, "b"))
  after = wm._objective(wm._check(a, "a"), wm.permute_mlp(b, perms))
  assert after >= before
  x = rng.normal(size=(6, 4))
  np.testing.assert_allclose(wm.mlp_apply(wm.permute_mlp(b, perms), x), wm.mlp_apply(b, x),
                             atol=1e-5)
  with pytest.raises(DataError, match="architecture"):
    wm.weight_matching(a, _mlp(rng, [4, 11, 8, 2]))


def test_loss_barrier_closed_form():
  rng = np.random.default_rng(3)
  a = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=(2,))}
  b = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=(2,))}
  sq = lambda p: sum(float(np.sum(np.asarray(v) ** 2)) for v in jax.tree.leaves(p))
  # concave L = -||theta||^2: the gap to the chord peaks at lam = 1/2 with ||a - b||^2 / 4
  got = wm.loss_barrier(lambda p: -sq(p), a, b, num=21)
  diff = jax.tree.map(lambda x, y: x - y, a, b)
  assert got["barrier"] == pytest.approx(sq(diff) / 4, rel=1e-6)
  assert got["losses"][0] == pytest.approx(-sq(a), rel=1e-6)
  # convex L: never above the chord; identical models: no barrier
  assert wm.loss_barrier(sq, a, b)["barrier"] == pytest.approx(0.0, abs=1e-5)
  assert wm.loss_barrier(lambda p: -sq(p), a, a)["barrier"] == pytest.approx(0.0, abs=1e-5)
