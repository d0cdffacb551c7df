"""Git Re-Basin weight matching and the loss barrier (Ainsworth, Hayase & Srinivasa 2023,
"Git Re-Basin: Merging Models modulo Permutation Symmetries").

For an MLP given as a list of Dense layers (kernel [in, out], bias [out]), the hidden units
of each layer but the last may be permuted without changing the function. Weight matching
(Sec. 3.2, Algorithm 2) finds permutations pi of model B's hidden units that maximise
sum_l <W^A_l, P_l W^B_l P_{l-1}^T>_F (Sec. 3.2) by coordinate descent: each P_l in turn is
the linear assignment problem with the others fixed (Sec. 3.2), solved by scipy's
`linear_sum_assignment`, until no layer improves.

Behaviour follows the authors' code (samuela/git-re-basin, `weight_matching`), re-written:
permutations start at the identity, each sweep visits the layers in a fresh random order,
biases join the cost of their layer's permutation, and the sweep stops when no permutation
raised the objective by more than 1e-12 (or after `max_iter` sweeps). The returned
`perms[l][i]` is the unit of B placed at position i: permuted B has W[..., i] = W_B[..., perm[i]].
"""
from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy.optimize import linear_sum_assignment

from lib.errors import DataError

Layers = Sequence[tuple]


def _check(params: Layers, name: str) -> list[tuple[np.ndarray, np.ndarray]]:
  out = []
  for i, layer in enumerate(params):
    if len(layer) != 2:
      raise DataError(f"{name}[{i}] is not a (kernel, bias) pair; pass the MLP as a list of "
                      "Dense layers (kernel [in, out], bias [out])")
    k, b = np.asarray(layer[0], np.float64), np.asarray(layer[1], np.float64)
    if k.ndim != 2 or b.shape != (k.shape[1],) or (out and out[-1][0].shape[1] != k.shape[0]):
      raise DataError(f"{name}[{i}]: kernel {k.shape} and bias {b.shape} do not chain with "
                      "the layer before (kernel [in, out], bias [out], in = previous out)")
    out.append((k, b))
  return out


def mlp_apply(params: Layers, x, activation: Callable = jax.nn.relu):
  """y = W_L^T act(... act(W_1^T x + b_1) ...) + b_L for the list of Dense layers."""
  for i, (k, b) in enumerate(params):
    x = x @ k + b
    if i < len(params) - 1:
      x = activation(x)
  return x


def permute_mlp(params: Layers, perms: Sequence) -> list[tuple[np.ndarray, np.ndarray]]:
  """The MLP with hidden units of layer l reordered by perms[l] (l < L - 1): the kernel's
  output columns and the bias by perms[l], the next kernel's input rows likewise. Same
  function as `params`."""
  layers = _check(params, "params")
  if len(perms) != len(layers) - 1:
    raise DataError(f"{len(perms)} permutations for an MLP with {len(layers) - 1} hidden "
                    "layers; pass one per layer but the last")
  out, prev = [], None
  for l, (k, b) in enumerate(layers):
    if prev is not None:
      k = k[prev]                                              # inputs: P_{l-1}^T
    if l < len(perms):
      p = np.asarray(perms[l])
      k, b, prev = k[:, p], b[p], p                            # outputs: P_l
    out.append((k, b))
  return out


def _objective(a, b_perm) -> float:
  return float(sum(np.sum(ka * kb) + np.sum(ba * bb) for (ka, ba), (kb, bb) in zip(a, b_perm)))


def weight_matching(params_a: Layers, params_b: Layers, max_iter: int = 100,
                    seed: int = 0) -> list[np.ndarray]:
  """Permutations of B's hidden units bringing it onto A (Algorithm 2); apply them with
  `permute_mlp(params_b, perms)`."""
  a, b = _check(params_a, "params_a"), _check(params_b, "params_b")
  if [k.shape for k, _ in a] != [k.shape for k, _ in b]:
    raise DataError("the two MLPs have different layer shapes; weight matching aligns two "
                    "models of one architecture")
  n_hidden = len(a) - 1
  perms = [np.arange(a[l][0].shape[1]) for l in range(n_hidden)]
  rng = np.random.default_rng(seed)
  for _ in range(max_iter):
    improved = False
    for l in rng.permutation(n_hidden):
      prev = perms[l - 1] if l > 0 else np.arange(a[l][0].shape[0])
      nxt = perms[l + 1] if l + 1 < n_hidden else np.arange(a[l + 1][0].shape[1])
      # the LAP for P_l (Sec. 3.2): C = W^A_l^T W^B_l[P_{l-1}] + b^A b^B^T + W^A_{l+1} W^B_{l+1}[:, P_{l+1}]^T
      cost = (a[l][0].T @ b[l][0][prev] + np.outer(a[l][1], b[l][1])
              + a[l + 1][0] @ b[l + 1][0][:, nxt].T)
      _, col = linear_sum_assignment(cost, maximize=True)
      old = cost[np.arange(len(col)), perms[l]].sum()
      new = cost[np.arange(len(col)), col].sum()
      if new > old + 1e-12:
        perms[l], improved = col, True
    if not improved:
      break
  return perms


def interpolate(params_a, params_b, lam: float):
  """(1 - lam) theta_A + lam theta_B, leaf by leaf (any pytree)."""
  return jax.tree.map(lambda x, y: (1 - lam) * jnp.asarray(x) + lam * jnp.asarray(y),
                      params_a, params_b)


def loss_barrier(loss_fn: Callable, params_a, params_b, num: int = 25) -> dict:
  """The loss barrier along the linear path (Sec. 2; Frankle et al. 2020):
  max_lam L((1 - lam) theta_A + lam theta_B) - ((1 - lam) L(theta_A) + lam L(theta_B)),
  evaluated on `num` evenly spaced lam in [0, 1]. Returns {'lambdas', 'losses', 'barrier'}."""
  if num < 2:
    raise DataError(f"num={num} points cannot span the path; pass num >= 2")
  lambdas = np.linspace(0.0, 1.0, num)
  losses = np.array([float(loss_fn(interpolate(params_a, params_b, t))) for t in lambdas])
  chord = (1 - lambdas) * losses[0] + lambdas * losses[-1]
  return {"lambdas": lambdas, "losses": losses, "barrier": float(np.max(losses - chord))}
