"""DiT: identity / zero output at init (adaLN-Zero), the label dropout's null class, CFG on all
channels, and DiT-XL/2's size (675M params, 118.6 G MACs at 256 px) from the definition alone."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from lib.nn.transformer import EncoderBlock
from lib.tasks.diffusion import guided
from research.dit.model import DiT, dit_size, timestep_embedding


@pytest.fixture(scope="module")
def tiny():
  model = DiT(image_size=16, channels=2, patch_size=4, hidden_size=32, depth=2, num_heads=2,
              num_classes=5, out_channels=4)
  x = jax.random.normal(jax.random.key(0), (3, 16, 16, 2))
  t = jnp.array([0.0, 10.0, 999.0])
  y = jnp.array([0, 4, 5])                                            # 5 = the null class
  params = model.init({"params": jax.random.key(1)}, x, t, y)["params"]
  return model, params, x, t, y


def test_every_block_is_the_identity_at_init(tiny):
  model, params, x, t, y = tiny
  _, inter = model.apply({"params": params}, x, t, y, capture_intermediates=True,
                         mutable=["intermediates"])
  found = 0
  for name in ("block_0", "block_1"):
    block = EncoderBlock(num_heads=2, mlp_dim=128, conditioning="adaln_zero")
    h = jax.random.normal(jax.random.key(2), (3, 16, 32))
    c = jax.random.normal(jax.random.key(3), (3, 32))
    out = block.apply({"params": params[name]}, h, False, c)
    np.testing.assert_array_equal(np.asarray(out), np.asarray(h))
    # the modulation is zero, the attention and MLP weights are not
    assert not np.any(np.asarray(params[name]["adaLN_modulation"]["linear"]["kernel"]))
    assert np.any(np.asarray(params[name]["attn"]["query"]["kernel"]))
    found += 1
  assert found == 2 and inter


def test_the_whole_dit_outputs_zero_at_init_and_not_after_an_update(tiny):
  model, params, x, t, y = tiny
  out = model.apply({"params": params}, x, t, y)
  assert out.shape == (3, 16, 16, 4)
  np.testing.assert_array_equal(np.asarray(out), 0.0)
  bumped = jax.tree.map(lambda p: p + 0.01, params)
  assert float(jnp.abs(model.apply({"params": bumped}, x, t, y)).max()) > 0


def test_timestep_embedding_formula():
  t = jnp.array([0.0, 3.0, 500.0])
  emb = np.asarray(timestep_embedding(t, 8))
  freqs = np.exp(-np.log(10000.0) * np.arange(4) / 4)
  ref = np.concatenate([np.cos(np.outer(t, freqs)), np.sin(np.outer(t, freqs))], -1)
  np.testing.assert_allclose(emb, ref, atol=1e-4)   # float32 phases of t = 500


def test_label_dropout_uses_the_null_class(tiny):
  model, params, x, t, _ = tiny
  assert params["y_embedder"]["embedding_table"]["embedding"].shape == (6, 32)
  y = jnp.zeros((3,), jnp.int32)
  bumped = jax.tree.map(lambda p: p + 0.01 * jax.random.normal(jax.random.key(9), p.shape),
                        params)
  null = model.apply({"params": bumped}, x, t, jnp.full((3,), 5))
  always = model.clone(class_dropout_prob=0.999999)   # every label dropped
  dropped = always.apply({"params": bumped}, x, t, y, train=True,
                         rngs={"dropout": jax.random.key(4)})
  np.testing.assert_allclose(np.asarray(dropped), np.asarray(null), atol=1e-6)


def test_guidance_applies_to_every_channel():
  calls = []

  def net(x, level, labels):      # conditional output 1, unconditional 0, on 4 channels + 1 extra
    calls.append(labels)
    v = (labels < 10).astype(jnp.float32)[:, None, None, None]
    return jnp.broadcast_to(v, x.shape[:-1] + (5,)) * jnp.arange(1.0, 6.0)
  x = jnp.zeros((2, 2, 2, 4))
  out = guided(net, 10, 3.0, 4)(x, jnp.zeros(2), jnp.array([1, 2]))
  np.testing.assert_allclose(np.asarray(out[0, 0, 0]), [3.0, 6.0, 9.0, 12.0, 5.0])
  assert calls[0].tolist() == [1, 2, 10, 10]


def test_dit_xl2_params_and_macs_from_the_definition():
  cfg = dit_size("XL/2")
  model = DiT(image_size=32, channels=4, num_classes=1000, out_channels=8, **cfg)
  x = jax.ShapeDtypeStruct((1, 32, 32, 4), jnp.float32)     # 256 px -> the 32x32x4 latent
  t = jax.ShapeDtypeStruct((1,), jnp.float32)
  y = jax.ShapeDtypeStruct((1,), jnp.int32)
  shapes = jax.eval_shape(lambda: model.init({"params": jax.random.key(0)}, jnp.zeros(x.shape),
                                             jnp.zeros(1), jnp.zeros(1, jnp.int32)))["params"]
  n_params = sum(int(np.prod(s.shape)) for s in jax.tree.leaves(shapes))
  # the official count includes the frozen 256 x 1152 position table, a constant here
  assert abs(n_params + 256 * 1152 - 675e6) / 675e6 < 0.02, n_params
  lowered = jax.jit(lambda p, x, t, y: model.apply({"params": p}, x, t, y)).lower(shapes, x, t, y)
  cost = lowered.cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  macs = cost["flops"] / 2                        # the paper's "Gflops" count a multiply-add once
  assert abs(macs - 118.6e9) / 118.6e9 < 0.02, macs / 1e9
