"""Sharding presets: golden PartitionSpecs written out by hand for chosen params and their
Adam mu/nu on a (data, fsdp, model) = 2x2x2 mesh of the 8 simulated CPU devices; a train step
under fsdp_tp equals the single-device step; remat and scan_layers compute the same loss and
gradients as the plain ViT; activation constraints exist only under a mesh."""
import functools

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from lib.tasks import classify
from lib.train import sharding_presets
from lib.train.mesh import BATCH_AXES, make_mesh
from lib.train.param_paths import path_str
from lib.train.sharding import tree_shardings
from lib.nn.transformer import stack_blocks
from research.vit.model import ViT
from tests.train.smoke import smoke_config

# smoke ViT: hidden 16, 2 heads of 8, mlp 32, 4x4 patches of 16x16x1 images, 10 classes.
MIN_SIZE = 64  # leaves below 64 elements stay replicated over fsdp


def _config(preset, mesh=(2, 2, 2), **model):
  c = smoke_config(**{"sharding.preset": preset, "sharding.fsdp_min_size": MIN_SIZE,
                      "mesh.data": mesh[0], "mesh.fsdp": mesh[1], "mesh.model": mesh[2]})
  for k, v in model.items():
    c.model[k] = v
  return c


def _batch(n=16, seed=0):
  rng = np.random.default_rng(seed)
  return {"image": rng.normal(size=(n, 16, 16, 1)).astype(np.float32),
          "label": rng.integers(0, 10, size=(n,)).astype(np.int32)}


def _specs(config, devices=None):
  mesh = make_mesh(config.mesh, devices)
  abstract = jax.eval_shape(functools.partial(classify.init, config), jax.random.key(0),
                            _batch())
  shardings = tree_shardings(abstract, mesh, config.sharding)
  return {path_str(p): tuple(s.spec)
          for p, s in jax.tree_util.tree_leaves_with_path(shardings)}


# path -> spec, by hand: the rules (heads, mlp over `model`), then FSDP on the largest free
# dim divisible by 2 for leaves >= 64 elements.
GOLDEN = {
    "": {  # no rules: FSDP only (today's behaviour)
        "block_0/attn/query/kernel": ("fsdp", None, None),        # (16, 2, 8)
        "block_0/attn/query/bias": (None, None),                  # (2, 8): 16 elements
        "block_0/attn/out/kernel": (None, None, "fsdp"),          # (2, 8, 16)
        "block_0/mlp/fc1/kernel": (None, "fsdp"),                 # (16, 32)
        "block_0/mlp/fc1/bias": (None,),                          # (32,)
        "block_0/mlp/fc2/kernel": ("fsdp", None),                 # (32, 16)
        "block_0/ln1/scale": (None,),
        "embedding/kernel": (None, None, None, "fsdp"),           # (4, 4, 1, 16)
        "pos_embedding": (None, None, "fsdp"),                    # (1, 17, 16)
        "head/kernel": ("fsdp", None),                            # (16, 10)
    },
    "replicate": {
        "block_0/attn/query/kernel": (None, None, None),
        "block_0/attn/out/kernel": (None, None, None),
        "block_0/mlp/fc1/kernel": (None, None),
        "block_0/mlp/fc2/kernel": (None, None),
        "embedding/kernel": (None, None, None, None),
        "pos_embedding": (None, None, None),
        "head/kernel": (None, None),
    },
    "fsdp_tp": {
        "block_0/attn/query/kernel": ("fsdp", "model", None),
        "block_0/attn/key/kernel": ("fsdp", "model", None),
        "block_0/attn/value/kernel": ("fsdp", "model", None),
        "block_0/attn/query/bias": ("model", None),
        "block_0/attn/out/kernel": ("model", None, "fsdp"),
        "block_0/attn/out/bias": (None,),
        "block_0/mlp/fc1/kernel": ("fsdp", "model"),
        "block_0/mlp/fc1/bias": ("model",),
        "block_0/mlp/fc2/kernel": ("model", "fsdp"),
        "block_0/mlp/fc2/bias": (None,),
        "block_0/ln1/scale": (None,),
        "embedding/kernel": (None, None, None, "fsdp"),
        "pos_embedding": (None, None, "fsdp"),
        "cls": (None, None, None),                                # 16 elements
        "head/kernel": ("fsdp", None),
        "head/bias": (None,),
    },
}
ADAM = "opt_state/1/0/{}/"  # clip_by_global_norm, then adamw's scale_by_adam: mu, nu


@pytest.mark.parametrize("preset", sorted(GOLDEN))
def test_golden_specs_on_2x2x2(preset):
  specs = _specs(_config(preset))
  for leaf, expected in GOLDEN[preset].items():
    for prefix in ("params/", ADAM.format("mu"), ADAM.format("nu")):
      assert specs[prefix + leaf] == expected, (preset, prefix + leaf)
  assert specs["step"] == ()


def test_golden_specs_data_and_fsdp_on_their_meshes():
  data = _specs(_config("data", mesh=(8, 1, 1)))
  assert all(all(a is None for a in s) for s in data.values())  # everything replicated
  fsdp = _specs(_config("fsdp", mesh=(2, 4, 1)))
  golden = {  # FSDP over 4, leaves >= 64 elements
      "block_0/attn/query/kernel": ("fsdp", None, None),        # (16, 2, 8)
      "block_0/attn/out/kernel": (None, None, "fsdp"),
      "block_0/mlp/fc1/kernel": (None, "fsdp"),
      "block_0/mlp/fc2/kernel": ("fsdp", None),
      "pos_embedding": (None, None, "fsdp"),
      "head/kernel": ("fsdp", None),                            # 10 is not divisible by 4
      "block_0/mlp/fc1/bias": (None,),
  }
  for leaf, expected in golden.items():
    for prefix in ("params/", ADAM.format("mu"), ADAM.format("nu")):
      assert fsdp[prefix + leaf] == expected, prefix + leaf


@pytest.mark.parametrize("preset,fix", [("data", "mesh.fsdp=1"), ("fsdp", "mesh.model=1")])
def test_presets_refuse_a_mesh_they_do_not_use(preset, fix):
  with pytest.raises(ValueError, match=fix):
    _specs(_config(preset))


def test_unknown_preset_is_refused():
  with pytest.raises(ValueError, match="fsdp_tp"):
    _specs(_config("zero3"))


def test_explicit_rules_override_the_preset():
  c = _config("fsdp_tp")
  c.sharding.rules = ((r".*attn/(key|value)/kernel", (None, None, None)),)  # e.g. MQA
  specs = _specs(c)
  assert specs["params/block_0/attn/key/kernel"] == ("fsdp", None, None)  # FSDP still applies
  assert specs["params/block_0/attn/query/kernel"] == ("fsdp", "model", None)


def test_scanned_params_get_a_leading_layer_axis():
  specs = _specs(_config("fsdp_tp", depth=2, scan_layers=True))
  golden = {
      "blocks/attn/query/kernel": (None, "fsdp", "model", None),   # (2, 16, 2, 8)
      "blocks/attn/out/kernel": (None, "model", None, "fsdp"),     # (2, 2, 8, 16)
      "blocks/mlp/fc1/kernel": (None, "fsdp", "model"),            # (2, 16, 32)
      "blocks/mlp/fc1/bias": (None, "model"),                      # (2, 32)
      "blocks/mlp/fc2/kernel": (None, "model", "fsdp"),            # (2, 32, 16)
      "blocks/ln1/scale": (None, None),                            # (2, 16)
  }
  for leaf, expected in golden.items():
    for prefix in ("params/", ADAM.format("mu"), ADAM.format("nu")):
      assert specs[prefix + leaf] == expected, prefix + leaf
  # Without rules the FSDP rule still never takes the layer axis.
  plain = _specs(_config("", depth=2, scan_layers=True))
  assert plain["params/blocks/mlp/fc1/bias"] == (None, "fsdp")           # (2, 32)
  assert plain["params/blocks/attn/query/bias"] == (None, None, None)    # (2, 2, 8): 32


def test_preset_table_is_consistent():
  assert set(sharding_presets.SUGGESTED_MESH) == set(p for p in sharding_presets.PRESETS if p)
  for rx, spec in sharding_presets.preset_rules("fsdp_tp"):
    assert set(spec) <= {None, "model"}, rx


# -- the step ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def initial_state():
  config = _config("", mesh=(1, 1, 1))
  init = jax.jit(functools.partial(classify.init, config))
  return jax.device_get(init(jax.random.key(0), _batch()))


def _one_step(config, devices, state):
  mesh = make_mesh(config.mesh, devices)
  batch = _batch()
  shardings = tree_shardings(jax.eval_shape(lambda: state), mesh, config.sharding)
  batch_sharding = NamedSharding(mesh, P(BATCH_AXES))
  replicated = NamedSharding(mesh, P())
  step = jax.jit(functools.partial(classify.train_step, config),
                 in_shardings=(shardings, batch_sharding, replicated),
                 out_shardings=(shardings, replicated))
  with jax.set_mesh(mesh):
    lowered = step.lower(state, batch, jax.random.key(1))
    new_state, metrics = lowered.compile()(jax.device_put(state, shardings),
                                           jax.device_put(batch, batch_sharding),
                                           jax.random.key(1))
  return new_state, jax.device_get(metrics), lowered.as_text()


def test_fsdp_tp_step_equals_single_device_step(initial_state):
  single, m1, _ = _one_step(_config("", mesh=(1, 1, 1)), jax.devices()[:1], initial_state)
  sharded, m8, hlo = _one_step(_config("fsdp_tp"), jax.devices(), initial_state)
  fc1 = sharded.params["block_0"]["mlp"]["fc1"]["kernel"]
  assert tuple(fc1.sharding.spec) == ("fsdp", "model")  # really laid out as the preset says
  np.testing.assert_allclose(m1["loss"], m8["loss"], rtol=1e-5, atol=1e-5)
  flat_a = jax.tree_util.tree_leaves_with_path(jax.device_get(single.params))
  flat_b = jax.tree.leaves(jax.device_get(sharded.params))
  for (path, a), b in zip(flat_a, flat_b, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=jax.tree_util.keystr(path))
  # the activation constraints are in the program: hidden over model inside the MLP
  assert 'sharding_constraint' in hlo and '{"model"}]' in hlo


# -- remat, scan, activation constraints ---------------------------------------------------

DEPTH = 2


def _vit(**kw):
  return ViT(num_classes=10, patch_size=4, hidden_size=16, depth=DEPTH, num_heads=2, mlp_dim=32,
             **kw)


def _loss_and_grads(model, params, batch):
  def loss(p):
    logits = model.apply({"params": p}, batch["image"], train=True,
                         rngs={"dropout": jax.random.key(2)})
    return classify.cross_entropy(logits, batch["label"])
  return jax.jit(jax.value_and_grad(loss))(params)


@pytest.fixture(scope="module")
def plain():
  batch = _batch(8)
  params = jax.jit(_vit().init)(jax.random.key(0), batch["image"][:1])["params"]
  return batch, params, _loss_and_grads(_vit(), params, batch)


def _assert_trees_close(a, b):
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for (path, x), y in zip(jax.tree_util.tree_leaves_with_path(a), jax.tree.leaves(b)):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5, err_msg=jax.tree_util.keystr(path))


def test_remat_same_params_loss_and_grads(plain):
  batch, params, (loss, grads) = plain
  model = _vit(remat=True)
  init = jax.eval_shape(lambda: model.init(jax.random.key(0), batch["image"][:1])["params"])
  assert jax.tree.structure(init) == jax.tree.structure(params)  # same param paths
  loss_r, grads_r = _loss_and_grads(model, params, batch)
  np.testing.assert_allclose(loss_r, loss, rtol=1e-5)
  _assert_trees_close(grads_r, grads)
  jaxpr = str(jax.make_jaxpr(jax.grad(lambda p: model.apply({"params": p},
                                                             batch["image"]).sum()))(params))
  assert "checkpoint" in jaxpr or "remat" in jaxpr  # the blocks really are rematerialised


@pytest.mark.parametrize("remat", [False, True])
def test_scan_layers_same_loss_and_grads_with_stacked_params(plain, remat):
  batch, params, (loss, grads) = plain
  model = _vit(scan_layers=True, remat=remat)
  init = jax.eval_shape(lambda: model.init(jax.random.key(0), batch["image"][:1])["params"])
  stacked = stack_blocks(params, depth=DEPTH)
  assert jax.tree.map(lambda x: x.shape, init) == jax.tree.map(lambda x: x.shape, stacked)
  loss_s, grads_s = _loss_and_grads(model, stacked, batch)
  np.testing.assert_allclose(loss_s, loss, rtol=1e-5)
  _assert_trees_close(grads_s, stack_blocks(grads, depth=DEPTH))


def test_activation_constraints_only_under_a_mesh(plain):
  batch, params, _ = plain
  apply = jax.jit(lambda p, x: _vit().apply({"params": p}, x))
  assert "sharding_constraint" not in apply.lower(params, batch["image"]).as_text()
  mesh = make_mesh(ml_collections.ConfigDict(dict(data=2, fsdp=2, model=2)))
  with jax.set_mesh(mesh):
    text = apply.lower(params, batch["image"]).as_text()
    one = apply(params, batch["image"][:3])  # 3 rows do not split: the constraint drops
  assert text.count("sharding_constraint") == 1 + 2 * DEPTH  # embeddings, residual, MLP
  assert one.shape == (3, 10)
