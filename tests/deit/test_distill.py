"""DeiT: the [dist] token and its head, the soft and hard distillation losses against numpy,
a frozen teacher, and distillation from a trained run (lib/tasks/distill.py)."""
import numpy as np
import jax
import jax.numpy as jnp
import pytest

from configs import deit, vit
from lib.errors import ConfigError
from lib.tasks import distill
from lib.train.loop import Trainer
from research.vit.model import ViT


def _np_log_softmax(z):
  z = z - z.max(-1, keepdims=True)
  return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_dist_token_present_and_its_head_used():
  x = jax.random.normal(jax.random.key(0), (3, 8, 8, 1))
  model = ViT(num_classes=5, patch_size=4, hidden_size=16, depth=1, num_heads=2, mlp_dim=32,
              distillation=True)
  params = model.init(jax.random.key(1), x)["params"]
  assert params["dist"].shape == (1, 1, 16)
  assert params["pos_embedding"].shape == (1, 2 + 4, 16)       # [class], [dist], 4 patches
  assert params["head_dist"]["kernel"].shape == (16, 5)
  z_cls, z_dist = model.apply({"params": params}, x, train=True)
  np.testing.assert_allclose(model.apply({"params": params}, x), (z_cls + z_dist) / 2,
                             rtol=1e-6, atol=1e-6)
  # the dist head reads token 1: the sown pre-logits through head_dist give z_dist
  _, inter = model.apply({"params": params}, x, train=True, mutable=["intermediates"])
  h = np.asarray(inter["intermediates"]["pre_logits_dist"][0])
  np.testing.assert_allclose(h @ np.asarray(params["head_dist"]["kernel"])
                             + np.asarray(params["head_dist"]["bias"]), z_dist, rtol=1e-5,
                             atol=1e-5)
  # changing the dist token changes the dist head's logits only through attention, and the
  # dist head's bias moves z_dist and not z_cls
  bumped = jax.tree.map(lambda a: a, params)
  bumped["head_dist"] = dict(params["head_dist"], bias=params["head_dist"]["bias"] + 1.0)
  c2, d2 = model.apply({"params": bumped}, x, train=True)
  np.testing.assert_allclose(c2, z_cls, atol=1e-6)
  np.testing.assert_allclose(d2, z_dist + 1.0, atol=1e-5)
  plain = ViT(num_classes=5, patch_size=4, hidden_size=16, depth=1, num_heads=2, mlp_dim=32)
  plain_params = plain.init(jax.random.key(1), x)["params"]
  assert "dist" not in plain_params and "head_dist" not in plain_params
  assert plain_params["pos_embedding"].shape == (1, 1 + 4, 16)


@pytest.mark.parametrize("tau", [1.0, 3.0])
def test_soft_loss_matches_numpy(tau):
  rng = np.random.default_rng(0)
  s, t = rng.normal(size=(6, 7)) * 2, rng.normal(size=(6, 7)) * 2
  log_s, log_t = _np_log_softmax(s / tau), _np_log_softmax(t / tau)
  # torch kl_div(log_s, log_t, reduction='sum', log_target=True) * tau^2 / numel
  want = np.sum(np.exp(log_t) * (log_t - log_s)) * tau**2 / s.size
  got = distill.soft_distillation(jnp.asarray(s, jnp.float32), jnp.asarray(t, jnp.float32), tau)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # a student equal to the teacher has zero loss
  assert abs(float(distill.soft_distillation(jnp.asarray(t), jnp.asarray(t), tau))) < 1e-6


def test_hard_loss_is_cross_entropy_to_teacher_argmax():
  rng = np.random.default_rng(1)
  s, t = rng.normal(size=(8, 5)), rng.normal(size=(8, 5))
  y_t = t.argmax(-1)
  want = -np.mean(_np_log_softmax(s)[np.arange(8), y_t])
  np.testing.assert_allclose(distill.hard_distillation(jnp.asarray(s), jnp.asarray(t)), want,
                             rtol=1e-5)


def _smoke(**distill_overrides):
  c = deit.get_config("smoke")
  c.checkpoint.async_save = False
  c.distill.update(distill_overrides)
  return c


def _batch(config, n=16):
  rng = np.random.default_rng(0)
  s = config.data.image_size
  return {"image": jnp.asarray(rng.normal(size=(n, s, s, 1)), jnp.float32),
          "label": jnp.asarray(rng.integers(0, 10, n), jnp.int32)}


@pytest.mark.parametrize("kind", ["soft", "hard"])
def test_step_keeps_teacher_frozen_and_mixes_losses(kind):
  config = _smoke(type=kind, tau=2.0)
  config.optimizer.warmup_steps = 0     # a first step that moves the student
  batch = _batch(config)
  state = distill.init(config, jax.random.key(0), batch)
  before = jax.device_get((state.params, state.teacher_params))
  # the loss of the step, rebuilt in numpy from the models' outputs on the pre-step params
  student = distill.model_of(config)
  z_cls, z_dist = (np.asarray(z) for z in student.apply({"params": state.params},
                                                        batch["image"], train=True))
  z_t = np.asarray(distill.teacher_logits(config, state, batch["image"]))
  y = np.asarray(batch["label"])
  base = -np.mean(_np_log_softmax(z_cls)[np.arange(16), y])
  if kind == "soft":
    ls, lt = _np_log_softmax(z_dist / 2.0), _np_log_softmax(z_t / 2.0)
    kd = np.sum(np.exp(lt) * (lt - ls)) * 4.0 / z_dist.size
  else:
    kd = -np.mean(_np_log_softmax(z_dist)[np.arange(16), z_t.argmax(-1)])
  new, metrics = jax.jit(lambda s, b, r: distill.train_step(config, s, b, r))(
      state, batch, jax.random.key(1))
  np.testing.assert_allclose(metrics["loss"], 0.5 * base + 0.5 * kd, rtol=1e-4)
  np.testing.assert_allclose(metrics["distill_loss"], kd, rtol=1e-4)
  after = jax.device_get((new.params, new.teacher_params))
  for a, b in zip(jax.tree.leaves(before[1]), jax.tree.leaves(after[1])):
    np.testing.assert_array_equal(a, b)                        # the teacher did not move
  moved = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before[0]),
                                                     jax.tree.leaves(after[0]))]
  assert all(moved)                                            # every student leaf, dist too


def test_distils_from_a_trained_teacher(tmp_path):
  teacher_config = vit.get_config("smoke")
  teacher_config.checkpoint.async_save = False
  teacher_dir = str(tmp_path / "teacher")
  Trainer(teacher_config, teacher_dir).run()
  config = _smoke(teacher_workdir=teacher_dir)
  trainer = Trainer(config, str(tmp_path / "student"))
  results = trainer.run()
  assert results["step"] == config.total_steps
  from lib.analysis import load_run
  teacher = load_run(teacher_dir)
  student = load_run(str(tmp_path / "student"))
  for a, b in zip(jax.tree.leaves(teacher.params), jax.tree.leaves(student.state.teacher_params)):
    np.testing.assert_array_equal(a, b)                        # the trained run, unchanged
  assert "head_dist" in student.state.params


def test_missing_teacher_names_the_key(tmp_path):
  empty = tmp_path / "no_teacher"
  empty.mkdir()
  with pytest.raises(ConfigError, match="config.distill.teacher_workdir"):
    Trainer(_smoke(teacher_workdir=str(empty)), str(tmp_path / "student"))
  with pytest.raises(ConfigError, match="config.distill.type"):
    Trainer(_smoke(type="none"), str(tmp_path / "student2"))
