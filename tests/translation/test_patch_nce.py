"""PatchNCE against a numpy InfoNCE over patches; positives at the same locations."""
import jax
import jax.numpy as jnp
import numpy as np

from lib.tasks import patch_nce


def _np_infonce(q, k, tau):
  total, count = 0.0, 0
  for b in range(q.shape[0]):
    for i in range(q.shape[1]):
      pos = q[b, i] @ k[b, i]
      negs = [q[b, i] @ k[b, j] for j in range(q.shape[1]) if j != i]
      logits = np.array([pos] + negs) / tau
      total += -logits[0] + np.log(np.exp(logits).sum())
      count += 1
  return total / count


def _unit(x):
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_patch_nce_matches_numpy_infonce():
  rng = np.random.default_rng(0)
  q, k = _unit(rng.normal(size=(2, 6, 5))), _unit(rng.normal(size=(2, 6, 5)))
  got = float(patch_nce.patch_nce_layer(jnp.asarray(q), jnp.asarray(k), 0.07))
  # the official fill of -10 for the query's own slot adds exp(-10/tau) ~ 0: the same loss
  np.testing.assert_allclose(got, _np_infonce(q, k, 0.07), rtol=1e-5)
  q2, k2 = _unit(rng.normal(size=(2, 4, 5))), _unit(rng.normal(size=(2, 4, 5)))
  both = float(patch_nce.patch_nce_loss([jnp.asarray(q), jnp.asarray(q2)],
                                        [jnp.asarray(k), jnp.asarray(k2)], 0.5))
  np.testing.assert_allclose(both, 0.5 * (_np_infonce(q, k, 0.5) + _np_infonce(q2, k2, 0.5)),
                             rtol=1e-5)


def test_keys_get_no_gradient_and_aligned_features_give_a_low_loss():
  rng = np.random.default_rng(1)
  k = jnp.asarray(_unit(rng.normal(size=(1, 8, 16))))
  grad_k = jax.grad(lambda kk: patch_nce.patch_nce_layer(k, kk, 0.07))(k)
  assert float(jnp.abs(grad_k).max()) == 0.0
  same = float(patch_nce.patch_nce_layer(k, k, 0.07))
  other = float(patch_nce.patch_nce_layer(jnp.roll(k, 1, axis=1), k, 0.07))
  assert same < 0.05 < other


def test_positives_are_the_same_locations_in_both_maps():
  feats = [jnp.arange(2 * 4 * 5 * 3, dtype=jnp.float32).reshape(2, 4, 5, 3),
           jnp.ones((2, 2, 2, 7))]
  ids = patch_nce.sample_patch_ids(jax.random.key(0), feats, num_patches=6)
  assert [len(i) for i in ids] == [6, 4]                   # all 4 locations of the 2x2 map
  assert len(set(np.asarray(ids[0]).tolist())) == 6        # distinct
  src = patch_nce.gather_patches(feats[0], ids[0])
  translated = patch_nce.gather_patches(feats[0] * 2.0, ids[0])
  for n, flat in enumerate(np.asarray(ids[0])):
    y, x = divmod(int(flat), 5)
    np.testing.assert_array_equal(np.asarray(src[:, n]), np.asarray(feats[0][:, y, x]))
  np.testing.assert_array_equal(np.asarray(translated), 2.0 * np.asarray(src))
