"""Slot Attention: normalisation properties, Algorithm 1 in numpy, slot permutation
equivariance, and the Gaussian slot initialisation."""
import jax
import jax.numpy as jnp
import numpy as np

from lib.attention import slot

B, N, C, K, D = 2, 12, 6, 3, 8
_sig = lambda z: 1 / (1 + np.exp(-z))


def _ln(x, p, eps=1e-3):                      # the official code's (Keras) LayerNorm epsilon
  m, v = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
  return (x - m) / np.sqrt(v + eps) * p["scale"] + p["bias"]


def _slot_attention_numpy(inputs, slots, p, iters):
  """Algorithm 1 of the paper, with a GRU cell r, z, n (Cho et al.)."""
  x = _ln(inputs, p["norm_inputs"])
  k, v = x @ p["k"]["kernel"], x @ p["v"]["kernel"]
  g = p["gru"]
  lin = lambda t, n: t @ g[n]["kernel"] + g[n].get("bias", 0.0)
  for _ in range(iters):
    prev = slots
    q = _ln(slots, p["norm_slots"]) @ p["q"]["kernel"]
    logits = k @ q.transpose(0, 2, 1) / np.sqrt(D)                           # [B, N, K]
    attn = np.exp(logits - logits.max(-1, keepdims=True))
    attn /= attn.sum(-1, keepdims=True)                                      # over slots
    w = (attn + 1e-8) / (attn + 1e-8).sum(1, keepdims=True)                  # over inputs
    upd = w.transpose(0, 2, 1) @ v
    r = _sig(lin(upd, "ir") + lin(prev, "hr"))
    z = _sig(lin(upd, "iz") + lin(prev, "hz"))
    n = np.tanh(lin(upd, "in") + r * lin(prev, "hn"))
    slots = (1 - z) * n + z * prev
    h = np.maximum(_ln(slots, p["norm_mlp"]) @ p["mlp1"]["kernel"] + p["mlp1"]["bias"], 0)
    slots = slots + h @ p["mlp2"]["kernel"] + p["mlp2"]["bias"]
  return slots, attn


def _setup(seed=0):
  rng = np.random.default_rng(seed)
  inputs = rng.normal(size=(B, N, C)).astype(np.float32)
  slots0 = rng.normal(size=(B, K, D)).astype(np.float32)
  model = slot.SlotAttention(num_slots=K, slot_size=D, mlp_hidden=16)
  v = jax.jit(model.init)({"params": jax.random.PRNGKey(seed), "slots": jax.random.PRNGKey(1)},
                          inputs)
  v = jax.tree_util.tree_map(lambda a: a + 0.1 * rng.normal(size=a.shape).astype(a.dtype), v)
  return model, v, inputs, slots0


def test_attention_normalisation():
  rng = np.random.default_rng(1)
  k, q = rng.normal(size=(B, N, D)), rng.normal(size=(B, K, D))
  attn, w = slot.slot_attention_weights(jnp.asarray(k), jnp.asarray(q))
  np.testing.assert_allclose(np.asarray(attn).sum(-1), 1.0, rtol=1e-6)      # over slots
  np.testing.assert_allclose(np.asarray(w).sum(1), 1.0, rtol=1e-6)          # over inputs
  # softmax over slots: a shift c shared by all slot queries adds k_n.c to every logit of
  # input n, which the softmax over slots removes (a softmax over inputs would not)
  c = rng.normal(size=(1, 1, D))
  attn2, w2 = slot.slot_attention_weights(jnp.asarray(k), jnp.asarray(q + c))
  np.testing.assert_allclose(np.asarray(attn2), np.asarray(attn), rtol=1e-5, atol=1e-7)
  logits = np.einsum("bnd,bkd->bnk", k, q) / np.sqrt(D)
  want = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
  np.testing.assert_allclose(np.asarray(attn), want, rtol=1e-5, atol=1e-7)


def test_iterations_match_numpy():
  model, v, inputs, slots0 = _setup()
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), v["params"])
  want, attn = _slot_attention_numpy(inputs.astype(np.float64), slots0.astype(np.float64), p, 3)
  got, st = jax.jit(lambda v, x, s: model.apply(v, x, s, mutable=["intermediates"]))(
      v, inputs, slots0)
  np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
  sown = np.asarray(st["intermediates"]["attention_weights"][0])[:, 0]      # [B, K, N]
  np.testing.assert_allclose(sown, attn.transpose(0, 2, 1), rtol=1e-5, atol=1e-6)
  # one iteration, and a bf16 forward of it
  one, _ = _slot_attention_numpy(inputs.astype(np.float64), slots0.astype(np.float64), p, 1)
  m1 = slot.SlotAttention(num_slots=K, slot_size=D, mlp_hidden=16, num_iterations=1)
  np.testing.assert_allclose(np.asarray(jax.jit(m1.apply)(v, inputs, slots0)), one,
                             rtol=1e-5, atol=1e-5)
  m16 = slot.SlotAttention(num_slots=K, slot_size=D, mlp_hidden=16, num_iterations=1,
                           dtype=jnp.bfloat16)
  got16 = jax.jit(m16.apply)(v, inputs.astype(jnp.bfloat16), slots0.astype(jnp.bfloat16))
  err = np.abs(np.asarray(got16, np.float32) - one).max()
  assert err <= 1e-2 * np.abs(one).max(), err


def test_slots_are_permutation_equivariant():
  _, v, inputs, slots0 = _setup(seed=2)
  perm = np.array([2, 0, 1])
  model = slot.SlotAttention(num_slots=K, slot_size=D, mlp_hidden=16, num_iterations=2)
  fwd = jax.jit(model.apply)
  out = fwd(v, inputs, slots0)
  out_p = fwd(v, inputs, slots0[:, perm])
  np.testing.assert_allclose(np.asarray(out_p), np.asarray(out)[:, perm], rtol=1e-5, atol=1e-6)


def test_slot_initialisation_is_the_learned_gaussian():
  mu = jnp.asarray(np.linspace(-1, 1, D), jnp.float32)[None, None]
  log_sigma = jnp.asarray(np.linspace(-2, 0.5, D), jnp.float32)[None, None]
  s = np.asarray(slot.sample_slots(jax.random.PRNGKey(0), mu, log_sigma, 64, 128))
  s = s.reshape(-1, D)                                                       # 8192 samples
  se = np.exp(np.asarray(log_sigma)[0, 0]) / np.sqrt(len(s))
  assert np.all(np.abs(s.mean(0) - np.asarray(mu)[0, 0]) < 5 * se)
  np.testing.assert_allclose(s.std(0), np.exp(np.asarray(log_sigma)[0, 0]), rtol=0.05)
