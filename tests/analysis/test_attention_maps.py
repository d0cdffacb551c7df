"""Attention rollout and flow against numpy transcriptions, closed forms and brute-force
min-cuts (max-flow = min-cut)."""
import itertools

import numpy as np
import pytest

from lib.analysis import attention_maps as am
from lib.errors import DataError


def _softmax_maps(rng, *shape):
  x = rng.normal(size=shape) * 2
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def test_rollout_of_identity_attention_is_identity():
  eye = np.broadcast_to(np.eye(5), (3, 2, 4, 5, 5))  # [L, B, N, T, T]
  np.testing.assert_allclose(am.attention_rollout(eye), np.broadcast_to(np.eye(5), (2, 5, 5)))


def test_rollout_equals_direct_product():
  rng = np.random.default_rng(0)
  w = _softmax_maps(rng, 4, 3, 6, 6)  # [L, N, T, T]
  layers = [0.5 * w[l].mean(0) + 0.5 * np.eye(6) for l in range(4)]   # the paper's A'
  want = layers[3] @ layers[2] @ layers[1] @ layers[0]
  got = am.attention_rollout(w)
  np.testing.assert_allclose(got, want, atol=1e-12)
  np.testing.assert_allclose(got.sum(-1), 1.0)
  parts = am.attention_rollout(w, all_layers=True)
  np.testing.assert_allclose(parts[1], layers[1] @ layers[0], atol=1e-12)
  # without the residual: the plain product of head-averaged maps
  np.testing.assert_allclose(am.attention_rollout(w, add_residual=False),
                             w[3].mean(0) @ w[2].mean(0) @ w[1].mean(0) @ w[0].mean(0))


def _min_cut(cap, s, t):
  """Brute force over every s-t cut of a small graph."""
  n = cap.shape[0]
  others = [v for v in range(n) if v not in (s, t)]
  best = np.inf
  for bits in itertools.product([0, 1], repeat=len(others)):
    side = np.zeros(n, bool)
    side[s] = True
    side[others] = np.array(bits, bool)
    best = min(best, cap[side][:, ~side].sum())
  return best


def test_max_flow_on_hand_built_graph():
  # CLRS Fig. 26.1: max-flow 23 from s=0 to t=5
  cap = np.zeros((6, 6))
  for u, v, c in [(0, 1, 16), (0, 2, 13), (1, 3, 12), (2, 1, 4), (2, 4, 14), (3, 2, 9),
                  (3, 5, 20), (4, 3, 7), (4, 5, 4)]:
    cap[u, v] = c
  assert am.max_flow(cap, 0, 5, scale=1) == 23
  assert _min_cut(cap, 0, 5) == 23
  rng = np.random.default_rng(1)
  rand = rng.uniform(size=(7, 7)) * (rng.uniform(size=(7, 7)) < 0.5)
  assert am.max_flow(rand, 0, 6) == pytest.approx(_min_cut(rand, 0, 6), abs=1e-4)


def test_flow_two_layers_closed_form_and_min_cut():
  rng = np.random.default_rng(2)
  w = _softmax_maps(rng, 2, 4, 4)  # [L, T, T], heads already averaged
  a = am.residual_attention(w)
  flows = am.attention_flow(w, head_axis=None, normalize=False)
  # two layers: the paths i -> k -> j are edge-disjoint, each carries min of its two edges
  want = np.minimum(a[1][:, :, None], a[0][None, :, :]).sum(1)
  np.testing.assert_allclose(flows, want, atol=1e-4)
  # three layers: against the brute-force min-cut of the layered graph
  w3 = _softmax_maps(rng, 3, 2, 3, 3)  # [L, N, T, T]
  a3 = am.residual_attention(w3, head_axis=1)
  cap = am.flow_graph(a3)
  flows3 = am.attention_flow(w3, normalize=False)
  for i, j in itertools.product(range(3), range(3)):
    assert flows3[i, j] == pytest.approx(_min_cut(cap, 9 + i, j), abs=1e-4)
  normed = am.attention_flow(w3)
  np.testing.assert_allclose(normed, flows3 / flows3.sum(-1, keepdims=True))


def test_attention_weights_of_orders_layers_numerically():
  maps = {f"block_{i}": {"attn": {"attention_weights": (np.full((1, 1, 2, 2), i),)}}
          for i in range(12)}
  got = am.attention_weights_of({"intermediates": maps})
  assert got.shape == (12, 1, 1, 2, 2)
  np.testing.assert_array_equal(got[:, 0, 0, 0, 0], np.arange(12))
  scanned = {"blocks": {"attn": {"attention_weights": (np.zeros((3, 1, 1, 2, 2)),)}}}
  assert am.attention_weights_of(scanned).shape == (3, 1, 1, 2, 2)
  with pytest.raises(DataError, match="attention_weights=True"):
    am.attention_weights_of({"block_0": {"pre_logits": (np.zeros(2),)}})


def test_head_axis_on_averaged_maps_is_refused():
  maps = _softmax_maps(np.random.default_rng(5), 2, 3, 3)
  with pytest.raises(DataError, match="head_axis=None"):
    am.attention_rollout(maps)
  np.testing.assert_allclose(am.attention_rollout(maps, head_axis=None).sum(-1), 1.0)
