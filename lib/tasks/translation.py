"""Image-to-image translation, paired and unpaired: one task for pix2pix, CycleGAN, U-GAT-IT
and CUT (issue 16), with every loss a key of `config.translation` (defaults: configs/
_translation.py), so an ablation changes one key:

  gan_loss            lsgan (CycleGAN, U-GAT-IT, CUT) | nonsaturating (pix2pix) | hinge |
                      wasserstein (lib/tasks/gan_losses.py)
  adv_weight          weight of the adversarial terms (U-GAT-IT: 1)
  d_loss_scale        the discriminator objective's factor (CycleGAN and pix2pix: 0.5)
  l1_weight           ||G(x) - y||_1 to the paired target (pix2pix Eq. 3: lambda 100)
  cycle_weight        ||F(G(x)) - x||_1 + ||G(F(y)) - y||_1 (CycleGAN Eq. 2: lambda 10);
                      > 0 makes the task two-way (G: A -> B and F: B -> A, D_B and D_A)
  identity_weight     ||G(y) - y||_1 (+ ||F(x) - x||_1): CycleGAN 0.5 x cycle = 5; U-GAT-IT 10
  cam_weight          U-GAT-IT's CAM loss (Eq. 5): BCE(eta_s(x_A), 1) + BCE(eta_s(x_B), 0) for
                      the generator's auxiliary classifier (1000); the critics' CAM logits
                      take the adversarial loss beside their patch logits (Eq. 3)
  nce_weight, nce_idt PatchNCE (CUT Eq. 3, lib/tasks/patch_nce.py): CUT 1 with the identity
                      NCE on y (mean of the two), FastCUT 10 without; nce_layers (indices into
                      the generator's `encode` list), nce_num_patches 256, nce_temperature 0.07
  pool_size           past fakes shown to D (lib/tasks/image_pool.py): CycleGAN 50, else 0
  conditional_discriminator  D sees [input, output] (pix2pix)
  linear_decay_start  fraction of total_steps after which both learning rates decay linearly
                      to 0 (CycleGAN: 100 constant + 100 decaying epochs; U-GAT-IT: half)

Batches come from lib/data/domain_pairs.py: 'image' (domain A), 'target' (domain B; the true
counterpart when the data is paired, an unrelated B image when not).
Models: `config.generator` G(x, train) -> (image, aux) (aux may hold 'cam_logit', 'heatmap';
a generator with `encode(x, train)` -> feature list serves PatchNCE), `config.discriminator`
D(x, train) -> list of {'logits': patch map, optional 'cam_logit'} (the adversarial loss sums
over the list: scales of a multi-scale D, U-GAT-IT's global and local critics),
`config.nce_head` (CUT's projection MLP). Non-trainable variables (spectral-norm vectors,
batch statistics) live in state.model_state; params named 'rho' (AdaLIN, LIN) are clipped to
[0, 1] after every update (the official RhoClipper).

One step: the generators translate the batch; the discriminators take one update on the
pooled fakes (detached); the generators (and the NCE head) take one update against the
updated discriminators. (The official CycleGAN updates G first, then D on the same fakes;
pix2pix, U-GAT-IT and CUT update D first: the order here.)
"""
from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from lib.errors import ConfigError
from lib.nn.instance_layer_norm import clip_rho
from lib.tasks import gan_losses
from lib.tasks import image_pool
from lib.tasks import patch_nce
from lib.train.imports import build_model
from lib.train.optim import make_optimizer

GAN_LOSSES = ("lsgan", "nonsaturating", "hinge", "wasserstein")


@flax.struct.dataclass
class TranslationState:
  step: jax.Array
  params: Any              # {'G': {'AB', ('BA')}, 'D': {'B', ('A')}, ('F': NCE head)}
  opt_state: Any           # {'G': generators + NCE head, 'D': discriminators}
  model_state: Any         # {'G': {'AB': ...}, 'D': {'B': ...}}: spectral-norm u, BN stats
  pools: Any               # {'B': pool of fakes of B, ('A')}
  ema_params: Any = None   # not used (kept for the loop's init_from and analysis helpers)

  @property
  def eval_params(self):
    return self.params


# --- configuration --------------------------------------------------------------------------

def two_way(config) -> bool:
  """True when the task trains F: B -> A as well (a cycle loss)."""
  return float(config.translation.cycle_weight) > 0


def uses_nce(config) -> bool:
  return float(config.translation.nce_weight) > 0


def _check(config):
  t = config.translation
  if t.gan_loss not in GAN_LOSSES:
    raise ConfigError(f"config.translation.gan_loss={t.gan_loss!r}: use one of {GAN_LOSSES} "
                      f"(the relativistic loss needs paired real logits: not supported here)")
  if t.l1_weight and not config.data.get("paired", True):
    raise ConfigError("config.translation.l1_weight > 0 needs paired data: set "
                      "data.paired=True or translation.l1_weight=0")
  if t.conditional_discriminator and two_way(config):
    raise ConfigError("config.translation.conditional_discriminator is pix2pix's (paired, "
                      "one way): set translation.cycle_weight=0 or turn it off")


def generator_of(config):
  return build_model(config.generator, config.compute_dtype)


def discriminator_of(config):
  return build_model(config.discriminator, config.compute_dtype)


def nce_head_of(config):
  return build_model(config.nce_head, config.compute_dtype)


def linear_decay(total_steps: int, start_fraction: float):
  """1 until start_fraction x total_steps, then linearly to 0 at total_steps."""
  start = int(total_steps * start_fraction)
  span = max(total_steps - start, 1)

  def factor(step):
    return jnp.clip(1.0 - (step - start) / span, 0.0, 1.0).astype(jnp.float32)
  return factor


def optimizers_of(config):
  def make(c):
    opt = make_optimizer(c, config.total_steps)
    if config.translation.linear_decay_start < 1.0:
      opt = optax.chain(opt, optax.scale_by_schedule(
          linear_decay(config.total_steps, config.translation.linear_decay_start)))
    return opt
  return make(config.optimizer_g), make(config.optimizer_d)


def _apply(module, params, model_state, *args, train: bool, rng=None, method=None):
  """module.apply -> (output, new model_state); the state advances only when `train`."""
  variables = {"params": params, **model_state}
  mutable = list(model_state.keys()) if (train and model_state) else False
  rngs = {"dropout": rng} if rng is not None else None
  out = module.apply(variables, *args, train=train, method=method, rngs=rngs, mutable=mutable)
  if mutable:
    out, new = out
    return out, {**model_state, **new}
  return out, model_state


def _split_vars(variables):
  v = dict(variables)
  return v.pop("params"), v


# --- init -----------------------------------------------------------------------------------

def init(config, rng, batch) -> TranslationState:
  _check(config)
  t = config.translation
  G, D = generator_of(config), discriminator_of(config)
  x_a, x_b = batch["image"][:1], batch["target"][:1]
  keys = jax.random.split(rng, 6)
  init_rngs = lambda k: {"params": k, "dropout": k}
  params, model_state = {"G": {}, "D": {}}, {"G": {}, "D": {}}
  d_in = jnp.concatenate([x_a, x_b], -1) if t.conditional_discriminator else x_b
  params["G"]["AB"], model_state["G"]["AB"] = _split_vars(G.init(init_rngs(keys[0]), x_a))
  params["D"]["B"], model_state["D"]["B"] = _split_vars(D.init(init_rngs(keys[1]), d_in))
  pools = {"B": image_pool.empty_pool(t.pool_size, d_in.shape[1:])}
  if two_way(config):
    params["G"]["BA"], model_state["G"]["BA"] = _split_vars(G.init(init_rngs(keys[2]), x_b))
    params["D"]["A"], model_state["D"]["A"] = _split_vars(D.init(init_rngs(keys[3]), x_a))
    pools["A"] = image_pool.empty_pool(t.pool_size, x_a.shape[1:])
  g_train = {"G": params["G"]}
  if uses_nce(config):
    feats = G.apply({"params": params["G"]["AB"], **model_state["G"]["AB"]}, x_a,
                    method="encode")
    feats = [feats[i] for i in t.nce_layers]
    ids = patch_nce.sample_patch_ids(keys[4], feats, t.nce_num_patches)
    patches = [patch_nce.gather_patches(f, i) for f, i in zip(feats, ids)]
    g_train["F"] = nce_head_of(config).init(keys[5], patches)["params"]
  tx_g, tx_d = optimizers_of(config)
  params = {**g_train, "D": params["D"]}
  return TranslationState(step=jnp.zeros((), jnp.int32), params=params,
                          opt_state={"G": tx_g.init(g_train), "D": tx_d.init(params["D"])},
                          model_state=model_state, pools=pools)


# --- losses ---------------------------------------------------------------------------------

def _mean_abs(a, b):
  return jnp.mean(jnp.abs(a.astype(jnp.float32) - b.astype(jnp.float32)))


def _bce_with_logits(logits, target: float):
  return jnp.mean(optax.sigmoid_binary_cross_entropy(logits.astype(jnp.float32),
                                                     jnp.full(logits.shape, target)))


def d_adversarial(loss_name, real_out, fake_out):
  """Sum over D's outputs (and their CAM logits) of the discriminator loss."""
  total = 0.0
  for r, f in zip(real_out, fake_out):
    for key in ("logits", "cam_logit"):
      if key in r:
        total = total + gan_losses.discriminator_loss(loss_name, r[key].reshape(-1),
                                                      f[key].reshape(-1))
  return total


def g_adversarial(loss_name, fake_out):
  total = 0.0
  for f in fake_out:
    for key in ("logits", "cam_logit"):
      if key in f:
        total = total + gan_losses.generator_loss(loss_name, None, f[key].reshape(-1))
  return total


def nce_loss(config, G, pg, ms, pf, source, translated, rng):
  """PatchNCE between `source` and its translation: the same locations in both (Eq. 3)."""
  t = config.translation
  head = nce_head_of(config)
  enc = lambda x: [G.apply({"params": pg, **ms}, x, train=False, method="encode")[i]
                   for i in t.nce_layers]
  feat_k, feat_q = enc(source), enc(translated)
  ids = patch_nce.sample_patch_ids(rng, feat_k, t.nce_num_patches)
  k = head.apply({"params": pf}, [patch_nce.gather_patches(f, i) for f, i in zip(feat_k, ids)])
  q = head.apply({"params": pf}, [patch_nce.gather_patches(f, i) for f, i in zip(feat_q, ids)])
  return patch_nce.patch_nce_loss(q, k, t.nce_temperature)


# --- one step -------------------------------------------------------------------------------

def train_step(config, state: TranslationState, batch, rng):
  t = config.translation
  G, D = generator_of(config), discriminator_of(config)
  tx_g, tx_d = optimizers_of(config)
  both = two_way(config)
  x_a, x_b = batch["image"], batch["target"]
  k_g, k_pool_b, k_pool_a, k_g2, k_nce, k_nce2 = jax.random.split(rng, 6)
  ms_g, ms_d = state.model_state["G"], state.model_state["D"]

  def d_input(x_src, y):
    return jnp.concatenate([x_src, y], -1) if t.conditional_discriminator else y

  # -- translations for the discriminator step (current G, detached) ---------------------------
  (fake_b, _), _ = _apply(G, state.params["G"]["AB"], ms_g["AB"], x_a, train=True, rng=k_g)
  fake_b_d, pool_b = image_pool.query(state.pools["B"],
                                      jax.lax.stop_gradient(d_input(x_a, fake_b)), k_pool_b,
                                      t.pool_size)
  pools = {"B": pool_b}
  if both:
    (fake_a, _), _ = _apply(G, state.params["G"]["BA"], ms_g["BA"], x_b, train=True, rng=k_g)
    fake_a_d, pools["A"] = image_pool.query(state.pools["A"], jax.lax.stop_gradient(fake_a),
                                            k_pool_a, t.pool_size)

  def d_loss_fn(pd):
    new_ms = dict(ms_d)
    real_out, new_ms["B"] = _apply(D, pd["B"], ms_d["B"], d_input(x_a, x_b), train=True)
    fake_out, new_ms["B"] = _apply(D, pd["B"], new_ms["B"], fake_b_d, train=True)
    loss_b = d_adversarial(t.gan_loss, real_out, fake_out)
    terms = {"d_b_loss": loss_b, "d_b_real": jnp.mean(real_out[0]["logits"]),
             "d_b_fake": jnp.mean(fake_out[0]["logits"])}
    loss = loss_b
    if both:
      real_a, new_ms["A"] = _apply(D, pd["A"], ms_d["A"], x_a, train=True)
      fake_a_out, new_ms["A"] = _apply(D, pd["A"], new_ms["A"], fake_a_d, train=True)
      terms["d_a_loss"] = d_adversarial(t.gan_loss, real_a, fake_a_out)
      loss = loss + terms["d_a_loss"]
    loss = t.d_loss_scale * t.adv_weight * loss
    return loss, (terms, new_ms)

  (d_loss, (d_terms, ms_d)), d_grads = jax.value_and_grad(d_loss_fn, has_aux=True)(
      state.params["D"])
  d_updates, opt_d = tx_d.update(d_grads, state.opt_state["D"], state.params["D"])
  params_d = optax.apply_updates(state.params["D"], d_updates)

  # -- generators (and the NCE head) against the updated discriminators -----------------------
  def g_loss_fn(gp):
    pg = gp["G"]
    new_ms = dict(ms_g)
    terms = {}
    (fb, aux_ab), new_ms["AB"] = _apply(G, pg["AB"], ms_g["AB"], x_a, train=True, rng=k_g2)
    out_b, _ = _apply(D, params_d["B"], ms_d["B"], d_input(x_a, fb), train=False)
    terms["g_adv_loss"] = g_adversarial(t.gan_loss, out_b)
    loss = t.adv_weight * terms["g_adv_loss"]
    if t.l1_weight:
      terms["l1_loss"] = _mean_abs(fb, x_b)                             # pix2pix Eq. 3
      loss = loss + t.l1_weight * terms["l1_loss"]
    need_idt_b = t.identity_weight or t.cam_weight or (uses_nce(config) and t.nce_idt)
    if need_idt_b:
      (idt_b, aux_bb), _ = _apply(G, pg["AB"], new_ms["AB"], x_b, train=True, rng=k_g2)
    if t.identity_weight:
      terms["identity_loss"] = _mean_abs(idt_b, x_b)
    if t.cam_weight:                                                    # U-GAT-IT Eq. 5
      terms["cam_loss"] = (_bce_with_logits(aux_ab["cam_logit"], 1.0)
                           + _bce_with_logits(aux_bb["cam_logit"], 0.0))
    if both:
      (fa, aux_ba), new_ms["BA"] = _apply(G, pg["BA"], ms_g["BA"], x_b, train=True, rng=k_g2)
      out_a, _ = _apply(D, params_d["A"], ms_d["A"], fa, train=False)
      g_adv_a = g_adversarial(t.gan_loss, out_a)
      terms["g_adv_loss"] = terms["g_adv_loss"] + g_adv_a
      loss = loss + t.adv_weight * g_adv_a
      (rec_a, _), _ = _apply(G, pg["BA"], new_ms["BA"], fb, train=True, rng=k_g2)
      (rec_b, _), _ = _apply(G, pg["AB"], new_ms["AB"], fa, train=True, rng=k_g2)
      terms["cycle_loss"] = _mean_abs(rec_a, x_a) + _mean_abs(rec_b, x_b)  # CycleGAN Eq. 2
      loss = loss + t.cycle_weight * terms["cycle_loss"]
      if t.identity_weight or t.cam_weight:
        (idt_a, aux_aa), _ = _apply(G, pg["BA"], new_ms["BA"], x_a, train=True, rng=k_g2)
        if t.identity_weight:
          terms["identity_loss"] = terms["identity_loss"] + _mean_abs(idt_a, x_a)
        if t.cam_weight:
          terms["cam_loss"] = (terms["cam_loss"] + _bce_with_logits(aux_ba["cam_logit"], 1.0)
                               + _bce_with_logits(aux_aa["cam_logit"], 0.0))
    if t.identity_weight:
      loss = loss + t.identity_weight * terms["identity_loss"]
    if t.cam_weight:
      loss = loss + t.cam_weight * terms["cam_loss"]
    if uses_nce(config):                                                # CUT Eq. 3 (+ 5)
      nce = nce_loss(config, G, pg["AB"], new_ms["AB"], gp["F"], x_a, fb, k_nce)
      terms["nce_loss"] = nce
      if t.nce_idt:
        terms["nce_idt_loss"] = nce_loss(config, G, pg["AB"], new_ms["AB"], gp["F"], x_b,
                                         idt_b, k_nce2)
        nce = 0.5 * (nce + terms["nce_idt_loss"])
      loss = loss + t.nce_weight * nce
    return loss, (terms, new_ms)

  g_params = {k: v for k, v in state.params.items() if k != "D"}
  (g_loss, (g_terms, ms_g)), g_grads = jax.value_and_grad(g_loss_fn, has_aux=True)(g_params)
  g_updates, opt_g = tx_g.update(g_grads, state.opt_state["G"], g_params)
  g_params = optax.apply_updates(g_params, g_updates)
  g_params = {**g_params, "G": clip_rho(g_params["G"])}                # RhoClipper(0, 1)

  new_state = state.replace(step=state.step + 1, params={**g_params, "D": params_d},
                            opt_state={"G": opt_g, "D": opt_d},
                            model_state={"G": ms_g, "D": ms_d}, pools=pools)
  metrics = {"g_loss": g_loss, "d_loss": d_loss, **g_terms, **d_terms,
             "g_grad_norm": optax.global_norm(g_grads),
             "d_grad_norm": optax.global_norm(d_grads)}
  return new_state, metrics


# --- inference (evaluators, launch.py --mode translate) -------------------------------------

def translate(config, state: TranslationState, images, direction: str = "ab"):
  """(translations in [-1, 1] float32, aux) of `images`: A -> B ('ab') or B -> A ('ba')."""
  key = {"ab": "AB", "ba": "BA"}[direction]
  if key not in state.params["G"]:
    raise ConfigError(f"this run has no {direction} generator (one-way translation: only A "
                      f"-> B); translate with direction='ab'")
  (out, aux), _ = _apply(generator_of(config), state.params["G"][key],
                         state.model_state["G"][key], images, train=False)
  return jnp.clip(out.astype(jnp.float32), -1.0, 1.0), aux


def predict(config, state: TranslationState, batch):
  """A -> B translations of batch['image']."""
  return translate(config, state, batch["image"])[0]

