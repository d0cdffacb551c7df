"""Every GAN config and variant builds: model kwargs are real fields, paper defaults hold in
the cifar10 variants, and optimizer regexes (StyleGAN2's mapping lr multiplier) match real
parameter paths. No compilation: shapes come from jax.eval_shape."""
import importlib
import re

import jax
import jax.numpy as jnp
import pytest

from lib.tasks import gan
from lib.train.param_paths import tree_paths

PAPERS = ("dcgan", "cgan", "wgan_gp", "sagan", "biggan", "stylegan2", "vitgan", "styleswin",
          "r3gan", "diffusion_gan", "projected_gan")
VARIANTS = ("digits", "shapes", "cifar10", "smoke")


def _config(paper, variant):
  return importlib.import_module(f"configs.{paper}").get_config(variant)


@pytest.mark.parametrize("paper", PAPERS)
def test_variants_build(paper):
  for variant in VARIANTS:
    c = _config(paper, variant)
    assert c.task == "lib.tasks.gan"
    gan.generator_of(c), gan.discriminator_of(c)          # unknown kwargs raise here
    assert c.data.batch_size % c.gan.n_critic == 0
    if variant == "cifar10":
      assert (c.data.source, c.data.name) == ("tfds", "cifar10")
    if variant == "smoke":
      assert c.total_steps <= 50 and c.data.image_size == 16
    if variant in ("digits", "shapes"):
      assert {"fid", "kid", "pr"} <= set(c.eval.evaluators)
      assert c.eval.extractor == f"vit_{variant}"
      assert ("conditional_accuracy" in c.eval.evaluators) == bool(gan.num_conditional_classes(c))
  assert "Result" in importlib.import_module(f"configs.{paper}").__doc__


def test_paper_defaults():
  s = _config("sagan", "cifar10")
  assert (s.gan.loss, s.optimizer_g.learning_rate, s.optimizer_d.learning_rate,
          s.optimizer_g.b1, s.optimizer_g.b2) == ("hinge", 1e-4, 4e-4, 0.0, 0.9)
  w = _config("wgan_gp", "cifar10")
  assert (w.gan.gp_weight, w.gan.n_critic, w.data.batch_size) == (10.0, 5, 320)
  assert _config("wgan_gp", "variant=cifar10,reg=clip").gan.weight_clip == 0.01
  b = _config("biggan", "cifar10")
  assert b.gan.ortho_beta == 1e-4 and b.ema_decay == 0.9999
  sg = _config("stylegan2", "cifar10")
  assert (sg.gan.r1_every, sg.gan.pl_every, sg.gan.pl_weight) == (16, 4, 2.0)
  r3 = _config("r3gan", "cifar10")
  assert r3.gan.loss == "relativistic" and r3.gan.r1_gamma == r3.gan.r2_gamma > 0
  sw = _config("styleswin", "cifar10")
  assert (sw.gan.r1_gamma, sw.gan.r1_every) == (10.0, 16)


@pytest.mark.parametrize("paper", ["stylegan2", "styleswin", "vitgan"])
def test_mapping_lr_multiplier_matches_mapping_params(paper):
  c = _config(paper, "smoke")
  batch = {"image": jax.ShapeDtypeStruct((16, 16, 16, 1), jnp.float32),
           "label": jax.ShapeDtypeStruct((16,), jnp.int32)}
  state = jax.eval_shape(lambda r: gan.init(c, r, batch), jax.random.key(0))
  paths = jax.tree.leaves(tree_paths(state.params["G"]))
  ((rx, mult),) = c.optimizer_g.lr_multipliers
  hits = [p for p in paths if re.fullmatch(rx, p)]
  assert mult == 0.01 and hits and all(p.startswith("mapping_net/") for p in hits)
  assert len(hits) < len(paths)


def test_vitgan_official_pairing_selects_the_stylegan2_residual_d():
  from research.stylegan2.model import Discriminator
  c = _config("vitgan", "smoke,d=stylegan2")
  d = gan.discriminator_of(c)
  assert isinstance(d, Discriminator) and d.mbstd_group == 4 and d.resample == "avg"
  assert (c.gan.r1_every, c.gan.lazy_reg_separate, c.optimizer_d.learning_rate) == (16, True, 0.002)
  assert c.generator.name == _config("vitgan", "smoke").generator.name   # G unchanged
  batch = {"image": jax.ShapeDtypeStruct((16, 16, 16, 1), jnp.float32),
           "label": jax.ShapeDtypeStruct((16,), jnp.int32)}
  state = jax.eval_shape(lambda r: gan.init(c, r, batch), jax.random.key(0))
  assert "epilogue" in state.params["D"]                  # the residual D's minibatch-std end
  assert _config("vitgan", "cifar10,d=stylegan2").gan.r1_gamma == 10.0   # official gamma
  with pytest.raises(ValueError, match="d='swin'"):
    _config("vitgan", "digits,d=swin")


def test_r3gan_ramps_follow_the_variant_and_the_arg():
  on, off = _config("r3gan", "digits,ramps=on"), _config("r3gan", "digits")
  assert (on.gan.ramp_steps, on.gan.r1_gamma_final, on.optimizer_g.lr_final) == (3000, 0.01, 5e-5)
  assert (off.gan.ramp_steps, off.gan.r1_gamma, off.optimizer_g.lr_final,
          off.optimizer_g.b2_final) == (0, 0.1, 0.0, 0.0)
  cifar = _config("r3gan", "cifar10")
  assert (cifar.gan.ramp_steps, cifar.gan.ada_p_final) == (int(2e7) // 512, 0.55)
  assert _config("r3gan", "cifar10,ramps=off").gan.ramp_steps == 0
  with pytest.raises(ValueError, match="ramps='yes'"):
    _config("r3gan", "digits,ramps=yes")
