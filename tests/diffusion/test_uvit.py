"""U-ViT: the whole forward against a numpy transcription of the official UViT.forward (built
on the same shared blocks), each out-block's skip_linear fed by the matching in-block, the
parameter count's closed form (depth // 2 long skips), the null-class label path, and Table 1's
parameter counts (44M / 131M / 287M / 501M) from the definition alone."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lib.errors import ConfigError
from lib.nn.transformer import EncoderBlock
from research.uvit.model import UViT, uvit_size

D, P, C, OUT, HEADS, DEPTH, CLASSES = 32, 2, 2, 4, 2, 5, 5


@pytest.fixture(scope="module")
def tiny():
  model = UViT(image_size=8, channels=C, patch_size=P, hidden_size=D, depth=DEPTH,
               num_heads=HEADS, num_classes=CLASSES, out_channels=OUT, mlp_time_embed=True)
  x = jax.random.normal(jax.random.key(0), (3, 8, 8, C))
  t = jnp.array([0.0, 10.0, 999.0])
  y = jnp.array([0, 4, 5])                                            # 5 = the null class
  params = model.init({"params": jax.random.key(1)}, x, t, y)["params"]
  params = jax.tree.map(lambda a: a + 0.01 * jax.random.normal(jax.random.key(2), a.shape),
                        params)                                      # non-zero biases too
  return model, params, x, t, y


def _np(a):
  return np.asarray(a, np.float64)


def reference_forward(params, x, t, y):
  """The official forward in numpy; only the transformer blocks are the shared module."""
  x, n = _np(x), DEPTH // 2
  dense = lambda name, h: h @ _np(params[name]["kernel"]) + _np(params[name]["bias"])
  block = lambda name, h: _np(EncoderBlock(HEADS, 4 * D).apply(
      {"params": params[name]}, jnp.asarray(h, jnp.float32), False))
  b, hgt, wid, _ = x.shape
  g = hgt // P
  # patch_embed: Conv2d(kernel = stride = p) == each p x p x C patch times the kernel
  patches = x.reshape(b, g, P, g, P, C).transpose(0, 1, 3, 2, 4, 5).reshape(b, g * g, -1)
  k = _np(params["patch_embed"]["kernel"]).reshape(P * P * C, D)
  tokens = patches @ k + _np(params["patch_embed"]["bias"])
  freqs = np.exp(-np.log(10000.0) * np.arange(D // 2) / (D // 2))
  arg = _np(t)[:, None] * freqs[None]
  time = np.concatenate([np.cos(arg), np.sin(arg)], -1)
  h = dense("time_embed_0", time)
  time = dense("time_embed_2", h / (1 + np.exp(-h)))                  # Linear(SiLU(Linear))
  label = _np(params["label_emb"]["embedding_table"]["embedding"])[np.asarray(y)]
  h = np.concatenate([label[:, None], time[:, None], tokens], 1) + _np(params["pos_embed"])
  skips = []
  for i in range(n):
    h = block(f"in_blocks_{i}", h)
    skips.append(h)
  h = block("mid_block", h)
  for i in range(n):
    h = dense(f"skip_linear_{i}", np.concatenate([h, skips[n - 1 - i]], -1))
    h = block(f"out_blocks_{i}", h)
  mu, var = h.mean(-1, keepdims=True), h.var(-1, keepdims=True)
  h = (h - mu) / np.sqrt(var + 1e-5) * _np(params["norm"]["scale"]) + _np(params["norm"]["bias"])
  h = dense("decoder_pred", h)[:, 2:]
  img = h.reshape(b, g, g, P, P, OUT).transpose(0, 1, 3, 2, 4, 5).reshape(b, hgt, wid, OUT)
  pad = np.pad(img, ((0, 0), (1, 1), (1, 1), (0, 0)))
  kc = _np(params["final_layer"]["kernel"])                           # [3, 3, in, out]
  out = sum(pad[:, i:i + hgt, j:j + wid] @ kc[i, j] for i in range(3) for j in range(3))
  return out + _np(params["final_layer"]["bias"])


def test_forward_matches_the_official_transcription(tiny):
  model, params, x, t, y = tiny
  out = model.apply({"params": params}, x, t, y)
  assert out.shape == (3, 8, 8, OUT) and out.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(out), reference_forward(params, x, t, y),
                             rtol=1e-4, atol=1e-4)


def test_each_skip_linear_sees_the_matching_in_block(tiny):
  model, params, x, t, y = tiny
  n = DEPTH // 2
  eye = jnp.concatenate([jnp.zeros((D, D)), jnp.eye(D)])              # Linear([h; s]) = s
  p = dict(params)
  for i in range(n):
    p[f"skip_linear_{i}"] = {"kernel": eye, "bias": jnp.zeros(D)}
  _, inter = model.apply({"params": p}, x, t, y, capture_intermediates=True,
                         mutable=["intermediates"])
  inter = inter["intermediates"]
  outs = [np.asarray(inter[f"in_blocks_{j}"]["__call__"][0]) for j in range(n)]
  assert not np.allclose(outs[0], outs[1])                            # the pairing is visible
  for i in range(n):
    seen = np.asarray(inter[f"skip_linear_{i}"]["__call__"][0])
    np.testing.assert_allclose(seen, outs[n - 1 - i], atol=1e-6)


def _count(tree):
  return sum(int(np.prod(a.shape)) for a in jax.tree.leaves(tree))


def _closed_form(d, depth, p, c, out, tokens, classes, qkv_bias=True, skip=True,
                 mlp_time=False, conv=True):
  """Official UViT parameter count (+3d a block for the shared block's q/k/v biases)."""
  block = 12 * d * d + 10 * d + (3 * d if qkv_bias else 0)   # LN, qkv, proj, LN, fc1, fc2
  n = (p * p * c * d + d + tokens * d + depth * block + (depth // 2) * (2 * d * d + d) * skip
       + 2 * d + d * p * p * out + p * p * out + classes * d)
  n += (d * 4 * d + 4 * d + 4 * d * d + d) if mlp_time else 0
  return n + ((9 * out * out + out) if conv else 0)


def test_parameter_count_closed_form_and_depth_over_two_skips(tiny):
  model, params, x, t, y = tiny
  assert sorted(k for k in params if k.startswith("skip_linear")) == [
      f"skip_linear_{i}" for i in range(DEPTH // 2)]
  assert _count(params) == _closed_form(D, DEPTH, P, C, OUT, 2 + 16, CLASSES + 1,
                                        mlp_time=True)
  no_skip = model.clone(skip=False).init({"params": jax.random.key(1)}, x, t, y)["params"]
  assert _count(params) - _count(no_skip) == (DEPTH // 2) * (2 * D * D + D)
  assert not np.allclose(model.clone(skip=False).apply({"params": no_skip}, x, t, y),
                         model.apply({"params": no_skip | {k: v for k, v in params.items()
                                                           if k.startswith("skip")}}, x, t, y))


def test_label_dropout_uses_the_null_class(tiny):
  model, params, x, t, _ = tiny
  assert params["label_emb"]["embedding_table"]["embedding"].shape == (CLASSES + 1, D)
  y = jnp.zeros((3,), jnp.int32)
  null = model.apply({"params": params}, x, t, jnp.full((3,), CLASSES))
  cond = model.apply({"params": params}, x, t, y)
  assert float(jnp.abs(null - cond).max()) > 1e-3                    # the label token matters
  always = model.clone(class_dropout_prob=0.999999)                  # every label dropped
  dropped = always.apply({"params": params}, x, t, y, train=True,
                         rngs={"dropout": jax.random.key(4)})
  np.testing.assert_allclose(np.asarray(dropped), np.asarray(null), atol=1e-6)


def test_unconditional_has_only_the_time_token_and_depth_must_be_odd(tiny):
  model, _, x, t, _ = tiny
  uncond = model.clone(num_classes=0, mlp_time_embed=False)
  params = uncond.init({"params": jax.random.key(1)}, x, t)["params"]
  assert "label_emb" not in params and params["pos_embed"].shape == (1, 1 + 16, D)
  assert uncond.apply({"params": params}, x, t).shape == (3, 8, 8, OUT)
  with pytest.raises(ConfigError, match="odd"):
    model.clone(depth=4).init({"params": jax.random.key(1)}, x, t, jnp.zeros(3, jnp.int32))


@pytest.mark.parametrize("name,image,c,classes,conv,paper", [
    ("S/2", 32, 3, 0, True, 44e6),          # cifar10, unconditional
    ("M/4", 64, 3, 1000, True, 131e6),      # ImageNet 64x64 (official: 1000 rows, no CFG)
    ("L/2", 32, 4, 1001, True, 287e6),      # ImageNet 256 latents (1000 classes + null)
    ("H/2", 32, 4, 1001, False, 501e6),     # ImageNet 256 latents, no final conv
])
def test_table1_parameter_counts_from_the_definition(name, image, c, classes, conv, paper):
  cfg = uvit_size(name)
  drop = 0.1 if classes == 1001 else 0.0
  model = UViT(image_size=image, channels=c, num_classes=min(classes, 1000),
               class_dropout_prob=drop, conv=conv, **cfg)
  y = jnp.zeros(1, jnp.int32) if classes else None
  shapes = jax.eval_shape(lambda: model.init({"params": jax.random.key(0)},
                                             jnp.zeros((1, image, image, c)), jnp.zeros(1),
                                             y))["params"]
  n, d, depth, p = _count(shapes), cfg["hidden_size"], cfg["depth"], cfg["patch_size"]
  tokens = (2 if classes else 1) + (image // p) ** 2
  assert n == _closed_form(d, depth, p, c, c, tokens, classes, conv=conv)
  official = n - depth * 3 * d                                       # qkv_bias=False there
  assert abs(official - paper) / paper < 0.02, official
  assert abs(n - paper) / paper < 0.02, n
