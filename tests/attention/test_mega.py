"""Mega: MD-EMA (FFT and scan) vs the direct recurrence, the full layer vs numpy, causality."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.attention import mega

B, L, D, NDIM = 2, 16, 8, 4
_sig = lambda z: 1 / (1 + np.exp(-z))
_silu = lambda z: z * _sig(z)


def _ema_recurrence(x, alpha, delta, beta, eta):
  """h_t = a beta x_t + (1 - a d) h_{t-1}; y_t = eta^T h_t / sqrt(h) (Mega Sec. 3.1), direct."""
  a, dl = _sig(alpha), _sig(delta)
  y = np.zeros_like(x)
  h = np.zeros(x.shape[:1] + alpha.shape)
  for t in range(x.shape[1]):
    h = a * beta * x[:, t, :, None] + (1 - a * dl) * h
    y[:, t] = (h * eta).sum(-1) / np.sqrt(alpha.shape[-1])
  return y


def _ema_numpy(x, p, bidirectional):
  y = _ema_recurrence(x, *(p[n][:D] for n in ("alpha", "delta", "beta", "eta")))
  if bidirectional:
    back = (p[n][D:] for n in ("alpha", "delta", "beta", "eta"))
    y = y + _ema_recurrence(x[:, ::-1], *back)[:, ::-1]
  return y


def _params(rows, seed):
  r = np.random.default_rng(seed)
  return {"alpha": r.normal(size=(rows, NDIM)), "delta": r.normal(size=(rows, NDIM)),
          "beta": r.normal(size=(rows, NDIM)), "eta": r.normal(size=(rows, NDIM))}


@pytest.mark.parametrize("bidirectional", [False, True])
def test_ema_fft_and_scan_equal_recurrence(bidirectional):
  x = np.random.default_rng(0).normal(size=(B, L, D))
  p = _params(2 * D if bidirectional else D, 1)
  want = _ema_numpy(x, p, bidirectional)
  pj = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float32), p)
  for method in ("fft", "scan"):
    ema = jax.jit(mega.multi_dim_ema, static_argnums=(2, 3))
    y = ema(jnp.asarray(x, jnp.float32), pj, bidirectional, method)
    np.testing.assert_allclose(np.asarray(y), want, rtol=1e-5, atol=1e-5)


def _mega_numpy(x, p, chunk, causal):
  """Mega layer transcription (prenorm, gated attention, gated residual)."""
  dense = lambda t, n: t @ p[n]["kernel"] + p[n]["bias"]
  mu_, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
  xn = (x - mu_) / np.sqrt(var + 1e-6) * p["norm"]["scale"] + p["norm"]["bias"]
  v = _silu(dense(xn, "v_proj"))
  e = p["ema"]
  mx = _silu(_ema_numpy(xn, e, bidirectional=not causal) + e["omega"] * xn)   # X'
  phi = _sig(dense(mx, "phi_proj"))
  z = _silu(dense(mx, "z_proj"))
  gamma = _silu(dense(mx, "gamma_proj"))
  q = z * p["kappa"][0] + p["mu"][0]
  k = z * p["kappa"][1] + p["mu"][1]
  m = (len(p["rel_pos_bias"]) + 1) // 2
  o = np.zeros_like(v)
  for s in range(0, x.shape[1], chunk):
    sl = slice(s, s + chunk)
    logits = q[:, sl] @ k[:, sl].transpose(0, 2, 1) / np.sqrt(q.shape[-1])
    i, j = np.meshgrid(np.arange(chunk), np.arange(chunk), indexing="ij")
    logits = logits + p["rel_pos_bias"][j - i + m - 1]
    if causal:
      logits = np.where(j <= i, logits, -np.inf)
    w = np.exp(logits - logits.max(-1, keepdims=True))
    o[:, sl] = (w / w.sum(-1, keepdims=True)) @ v[:, sl]
  h = _silu(dense(mx, "h_proj") + dense(gamma * o, "u_proj"))
  return phi * h + (1 - phi) * x


@pytest.mark.parametrize("causal", [False, True])
def test_mega_layer_matches_numpy(causal):
  x = np.random.default_rng(2).normal(size=(B, L, D)).astype(np.float32)
  layer = mega.MegaLayer(z_dim=4, v_dim=16, ndim=NDIM, chunk_size=4, causal=causal,
                         max_positions=8)
  v = jax.jit(layer.init)(jax.random.PRNGKey(0), x)
  rng = np.random.default_rng(3)
  v = jax.tree_util.tree_map(lambda a: a + 0.3 * rng.normal(size=a.shape).astype(a.dtype), v)
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), v["params"])
  want = _mega_numpy(x.astype(np.float64), p, chunk=4, causal=causal)
  np.testing.assert_allclose(np.asarray(jax.jit(layer.apply)(v, x)), want, rtol=1e-5, atol=1e-5)
  if not causal:
    layer16 = mega.MegaLayer(z_dim=4, v_dim=16, ndim=NDIM, chunk_size=4, max_positions=8,
                             dtype=jnp.bfloat16)
    y16 = jax.jit(layer16.apply)(v, x.astype(jnp.bfloat16))
    err = np.abs(np.asarray(y16, np.float32) - want).max()
    assert err <= 1e-2 * np.abs(want).max(), err        # bf16 within 1e-2 of the scale


def _future_and_past(jac):
  """Largest |d out_t / d in_s| over s > t and over s <= t; jac [L, D, L, D]."""
  future = np.triu(np.ones((L, L), bool), k=1)[:, None, :, None]
  return np.abs(np.where(future, jac, 0.0)).max(), np.abs(np.where(future, 0.0, jac)).max()


def test_causal_layer_does_not_see_the_future():
  x = np.random.default_rng(4).normal(size=(1, L, D)).astype(np.float32)
  layer = mega.MegaLayer(z_dim=4, v_dim=16, ndim=NDIM, chunk_size=8, causal=True,
                         max_positions=8, ema_method="scan")
  v = jax.jit(layer.init)(jax.random.PRNGKey(1), x)
  jac = np.asarray(jax.jit(jax.jacrev(lambda t: layer.apply(v, t)))(x))[0, :, :, 0]
  leak, past = _future_and_past(jac)
  assert past > 1e-2                                      # the test can see a dependence
  assert leak == 0.0                                      # exactly zero with the scan
  # the FFT form of the causal EMA leaks only round-off (~1e-8), never exactly zero
  p = jax.tree_util.tree_map(lambda a: a[:D], v["params"]["ema"])
  jac = np.asarray(jax.jacrev(lambda t: mega.multi_dim_ema(t, p, False, "fft"))(x))[0, :, 0]
  leak, past = _future_and_past(jac)
  assert past > 1e-2 and leak < 1e-6 * past
