"""Optimizer pieces and sharding rules against closed forms."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
from jax.sharding import PartitionSpec as P

from configs.common import optimizer_config
from lib.train.accumulate import value_and_grad_accumulated
from lib.train.ema import ema_decay_at, ema_update
from lib.train.mesh import make_mesh
from lib.train.optim import make_optimizer, make_schedule
from lib.train.sharding import tree_shardings


def test_accumulated_gradient_equals_full_batch_gradient():
  rng = np.random.default_rng(0)
  w = {"w": jnp.asarray(rng.normal(size=(3, 2)), jnp.float32)}
  batch = {"x": jnp.asarray(rng.normal(size=(8, 3)), jnp.float32),
           "y": jnp.asarray(rng.normal(size=(8, 2)), jnp.float32)}

  def loss_fn(p, b, r):
    err = b["x"] @ p["w"] - b["y"]
    return jnp.mean(err ** 2), {"max_err": jnp.max(jnp.abs(err))}

  (l1, _), g1 = jax.value_and_grad(loss_fn, has_aux=True)(w, batch, None)
  (l4, _), g4 = jax.jit(lambda p, b, r: value_and_grad_accumulated(loss_fn, p, b, r, 4))(
      w, batch, jax.random.key(0))
  np.testing.assert_allclose(l4, l1, rtol=1e-6)
  np.testing.assert_allclose(g4["w"], g1["w"], rtol=1e-5, atol=1e-6)


def test_weight_decay_mask_and_lr_multiplier():
  params = {"mapping": {"kernel": jnp.ones((2, 2))}, "synthesis": {"kernel": jnp.ones((2, 2)),
                                                                   "bias": jnp.ones((2,))}}
  c = optimizer_config(name="sgd", learning_rate=0.1, schedule="constant", momentum=0.0,
                       weight_decay=0.5, lr_multipliers=((r"mapping/.*", 0.01),))
  tx = make_optimizer(c, total_steps=10)
  grads = jax.tree.map(jnp.zeros_like, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  # Zero gradient: only decoupled decay acts, on kernels only (wd_mask '.*kernel$').
  np.testing.assert_allclose(updates["synthesis"]["kernel"], -0.1 * 0.5 * np.ones((2, 2)))
  np.testing.assert_allclose(updates["synthesis"]["bias"], 0.0)
  np.testing.assert_allclose(updates["mapping"]["kernel"], -0.01 * 0.1 * 0.5 * np.ones((2, 2)))


def test_warmup_cosine_schedule_closed_form():
  c = optimizer_config(learning_rate=1.0, warmup_steps=10, schedule="cosine")
  s = make_schedule(c, total_steps=110)
  assert float(s(5)) == pytest.approx(0.5)
  assert float(s(10)) == pytest.approx(1.0)
  assert float(s(60)) == pytest.approx(0.5 * (1 + np.cos(np.pi * 50 / 100)), abs=1e-6)
  assert float(s(110)) == pytest.approx(0.0, abs=1e-7)


def test_ema_update():
  out = ema_update({"a": jnp.array(1.0)}, {"a": jnp.array(3.0)}, 0.9)
  assert float(out["a"]) == pytest.approx(0.9 * 1 + 0.1 * 3)


def test_fsdp_rule_shards_largest_divisible_dim_and_regex_rules_win():
  mesh = make_mesh(ml_collections.ConfigDict(dict(data=1, fsdp=4, model=2)))
  tree = {"big": jax.ShapeDtypeStruct((6, 64), jnp.float32),       # 64 divisible by 4
          "odd": jax.ShapeDtypeStruct((6, 10), jnp.float32),       # nothing divisible by 4
          "small": jax.ShapeDtypeStruct((4,), jnp.float32),        # under the threshold
          "mlp": {"kernel": jax.ShapeDtypeStruct((16, 32), jnp.float32)}}
  rules = ml_collections.ConfigDict(dict(rules=((r".*mlp/kernel", (None, "model")),),
                                         fsdp_min_size=32))
  specs = jax.tree.map(lambda s: s.spec, tree_shardings(tree, mesh, rules))
  assert specs["big"] == P(None, "fsdp")
  assert specs["odd"] == P(None, None)
  assert specs["small"] == P(None)
  assert specs["mlp"]["kernel"] == P("fsdp", "model")  # rule first, then fsdp on a free dim
  bad = ml_collections.ConfigDict(dict(rules=((r"odd", ("model", "model")),), fsdp_min_size=32))
  with pytest.raises(ValueError, match="not divisible by mesh axis model"):
    tree_shardings({"odd": jax.ShapeDtypeStruct((3, 4), jnp.float32)}, mesh, bad)


def test_ema_decay_schedule():
  # before ema_start the EMA copies; afterwards the configured decay
  assert float(ema_decay_at(4, 0.999, start=5)) == 0.0
  assert np.isclose(float(ema_decay_at(5, 0.999, start=5)), 0.999)
  # rampup: half-life capped at rampup x steps done (StyleGAN2-ADA), here 0.05 x 100 = 5 steps
  assert np.isclose(float(ema_decay_at(99, 0.999, rampup=0.05)), 0.5 ** (1 / 5), rtol=1e-6)
  assert np.isclose(float(ema_decay_at(10**6, 0.999, rampup=0.05)), 0.999)
  # the weight the random init keeps after 2000 updates: 0.999^2000 = 0.135 without the ramp
  decays = np.asarray([float(ema_decay_at(t, 0.999, rampup=0.05)) for t in range(2000)])
  assert np.isclose(np.prod(np.full(2000, 0.999)), 0.1352, atol=1e-4)
  assert np.prod(decays) < 1e-6
