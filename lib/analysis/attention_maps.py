"""Attention rollout and attention flow (Abnar & Zuidema 2020, "Quantifying Attention Flow in
Transformers", Sec. 3), over the weights the models sow to 'intermediates'/'attention_weights'.

Behaviour follows the authors' code (samiraabnar/attention_flow, `compute_joint_attention`,
`get_adjmat`, `compute_flows` and the notebooks that call them), re-written here:
- heads are averaged first, then the residual is added as A + I with rows renormalised (for
  row-stochastic A this is exactly 0.5 A + 0.5 I, the paper's Eq. for the raw attention A');
- rollout multiplies the layers from the bottom: R_1 = A'_1, R_l = A'_l R_{l-1};
- flow builds the layered DAG whose node (l, i) has an edge to (l-1, j) with capacity
  A'_l[i, j], takes the max-flow value from each top node (L, i) to each input node (0, j),
  and normalises each row of the resulting [T, T] map to sum 1 (their `compute_flows`).
Max-flow here is scipy's (Dinic) on integer capacities: weights are scaled by `scale` and
rounded, so flow values carry an absolute error of about (number of edges) / scale.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
import scipy.sparse.csgraph

from lib.analysis.intermediates import collect
from lib.errors import DataError


def attention_weights_of(intermediates: Any, name: str = "attention_weights") -> np.ndarray:
  """The sown attention weights of every layer, stacked in layer order: [L, B, N, T, S].

  Unrolled models sow one [B, N, T, S] per `block_<i>` (ordered by i, not as strings);
  scanned ones (`nn.scan`, intermediates on axis 0) sow one [depth, B, N, T, S] already stacked.
  """
  found = collect(intermediates, name)
  if not found:
    raise DataError(f"no '{name}' among the intermediates; apply the model with "
                    "lib.analysis.intermediates.sown_intermediates(..., attention_weights=True) "
                    "(or Run.intermediates) so the attention kernels return their weights")
  layers = []
  for _, w in found:
    layers.extend(list(w) if w.ndim == 5 else [w])  # scanned: [depth, B, N, T, S]
  return np.stack(layers)


def _check_square(weights: np.ndarray) -> np.ndarray:
  weights = np.asarray(weights, np.float64)
  if weights.ndim < 3 or weights.shape[-1] != weights.shape[-2]:
    raise DataError(f"attention weights of shape {weights.shape} are not [L, ..., T, T] "
                    "self-attention maps; pass stacked per-layer weights (attention_weights_of)")
  return weights


def _mean_heads(a: np.ndarray, head_axis: int | None) -> np.ndarray:
  if head_axis is None:
    return a
  if a.ndim < 4:
    raise DataError(f"weights of shape {a.shape} have no head axis besides [L, T, T]; pass "
                    "head_axis=None for maps already averaged over heads")
  return a.mean(axis=head_axis)


def residual_attention(weights: np.ndarray, head_axis: int | None = None) -> np.ndarray:
  """A' = norm_rows(mean_heads(A) + I) (Sec. 3: A' = 0.5 W_att + 0.5 I for stochastic rows)."""
  a = _mean_heads(_check_square(weights), head_axis)
  a = a + np.eye(a.shape[-1])                                  # the residual connection
  return a / a.sum(-1, keepdims=True)                          # rows renormalised


def attention_rollout(weights: np.ndarray, head_axis: int | None = -3,
                      add_residual: bool = True, all_layers: bool = False) -> np.ndarray:
  """Rollout R_L = A'_L ... A'_1 (Sec. 3, Eq. of attention rollout) for weights [L, ..., T, T].

  head_axis: the axis of the heads in `weights` (averaged first; None when already averaged),
  counted on the full array, e.g. -3 for [L, B, N, T, T] or [L, N, T, T]. Returns [..., T, T]
  (row i: how much output token i draws on input token j), or [L, ..., T, T] of the partial
  products with all_layers.
  """
  a = _mean_heads(_check_square(weights), head_axis)
  if add_residual:
    a = residual_attention(a)
  out = [a[0]]
  for layer in a[1:]:
    out.append(layer @ out[-1])                                # R_l = A'_l R_{l-1}
  return np.stack(out) if all_layers else out[-1]


def _int_graph(capacity: np.ndarray, scale: float) -> scipy.sparse.csr_matrix:
  cap = np.asarray(capacity, np.float64)
  if cap.ndim != 2 or cap.shape[0] != cap.shape[1] or (cap < 0).any():
    raise DataError(f"capacities of shape {cap.shape} are not a square non-negative matrix")
  if cap.max(initial=0) * scale * cap.shape[0] >= 2**31:
    raise DataError(f"scale {scale} overflows the int32 capacities scipy needs; lower it")
  return scipy.sparse.csr_matrix(np.rint(cap * scale).astype(np.int32))


def max_flow(capacity: np.ndarray, source: int, sink: int, scale: float = 1e6) -> float:
  """Max-flow value from `source` to `sink` in the graph of the dense capacity matrix
  capacity[u, v] >= 0 (edge u -> v), by scipy's Dinic on round(capacity * scale)."""
  graph = capacity if scipy.sparse.issparse(capacity) else _int_graph(capacity, scale)
  if source == sink:
    return float("inf")
  return scipy.sparse.csgraph.maximum_flow(graph, source, sink).flow_value / scale


def flow_graph(layers: np.ndarray) -> np.ndarray:
  """The layered graph of Sec. 3 as a dense capacity matrix over (L + 1) * T nodes: node
  l * T + i is token i after layer l (l = 0: the input), with edge (l, i) -> (l-1, j) of
  capacity layers[l-1][i, j] for layers [L, T, T] (already residual-adjusted)."""
  n_layers, t, _ = layers.shape
  cap = np.zeros(((n_layers + 1) * t,) * 2)
  for l in range(1, n_layers + 1):
    cap[l * t:(l + 1) * t, (l - 1) * t:l * t] = layers[l - 1]
  return cap


def attention_flow(weights: np.ndarray, head_axis: int | None = -3, add_residual: bool = True,
                   normalize: bool = True, scale: float = 1e6) -> np.ndarray:
  """Attention flow [T, T] of ONE example (Sec. 3): entry (i, j) is the max-flow from output
  token i (top layer) to input token j through the layered graph, each row normalised to sum 1
  when `normalize` (as the authors' `compute_flows`). weights: [L, N, T, T] (head_axis -3) or
  [L, T, T] (head_axis None). Cost: T^2 max-flow problems on (L + 1) T nodes."""
  a = _mean_heads(_check_square(weights), head_axis)
  if a.ndim != 3:
    raise DataError(f"attention_flow takes one example's weights [L, (N,) T, T], got "
                    f"{np.shape(weights)}; index the batch first, e.g. weights[:, b]")
  if add_residual:
    a = residual_attention(a)
  n_layers, t, _ = a.shape
  graph = _int_graph(flow_graph(a), scale)  # built once for the T^2 problems
  flows = np.array([[max_flow(graph, n_layers * t + i, j, scale) for j in range(t)]
                    for i in range(t)])
  return flows / flows.sum(-1, keepdims=True) if normalize else flows
