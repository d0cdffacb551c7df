"""Keys every diffusion config shares (read by lib/tasks/diffusion.py and
lib/diffusion/formulations.py); the paper configs fill them in.

`config.model` is the backbone (import path + kwargs; `num_classes` and `out_channels` are set
by the task); `config.diffusion.formulation` picks the objective and sampler, each with its own
sub-block, so switching formulation is one key.
"""
import ml_collections

from configs.common import base_config, optimizer_config


def diffusion_config() -> ml_collections.ConfigDict:
  c = base_config()
  c.task = "lib.tasks.diffusion"
  c.optimizer = optimizer_config(name="adamw", learning_rate=1e-4, schedule="constant",
                                 weight_decay=0.0)
  c.eval.evaluators = ("samples",)
  d = c.diffusion = ml_collections.ConfigDict()
  d.formulation = "ddpm"        # ddpm | edm
  d.num_classes = 10            # 0: unconditional
  d.guidance_scale = 1.0        # classifier-free guidance s at sampling (1 = conditional only)
  d.ddpm = ml_collections.ConfigDict(dict(
      schedule="linear",        # linear (1e-4 .. 0.02) | cosine
      num_timesteps=1000,
      learn_sigma=False,        # True: 2C outputs, hybrid loss L_simple + vb_weight L_vlb
      vb_weight=1.0,
      variance="small",         # fixed variance when not learned: small (beta~) | large (beta)
      sampler="ancestral",      # ancestral | ddim
      sample_steps=0,           # respaced steps at sampling (0 = all num_timesteps)
      eta=0.0,                  # DDIM eta (1 = DDPM-like noise)
      clip_denoised=False))     # clip x0_hat to [-1, 1] at every step
  d.edm = ml_collections.ConfigDict(dict(
      sigma_data=0.5, p_mean=-1.2, p_std=1.2,
      num_steps=18, sigma_min=0.002, sigma_max=80.0, rho=7.0,
      solver="heun",            # heun | euler
      s_churn=0.0, s_min=0.0, s_max=1e30, s_noise=1.0))   # s_max 1e30 stands for infinity
  # latent diffusion (lib/tasks/latent_space.py): a finished autoencoder run, '' = pixels
  c.latent = ml_collections.ConfigDict(dict(
      workdir="",
      scale_factor=0.0))        # 0: 1 / std of the first batch's latents (LDM scale_by_std)
  return c


def set_data(c, variant: str):
  """Data of the shared variants: digits 8x8x1, latent_digits (32x32x1 digits through the frozen
  autoencoder of config.latent.workdir), shapes 32x32x3, cifar10 (tfds), smoke 16x16x1.

  digits are modelled at the scans' native 8x8: the GANs' 32x32 digits are these scans upsampled
  bilinearly, and the feature extractor upsamples 8x8 samples and references the same way (equal
  to the 32x32 pipeline's images to the last bit, checked), so FID and conditional accuracy sit
  in one table with the GANs'. At 32x32 the network must also remove 32x32 i.i.d. noise that
  carries no digit: the same DiT reached 0.62 conditional accuracy there, 1.00 at 8x8."""
  if variant == "digits":
    c.data.update(source="digits", image_size=8, channels=1)
    c.diffusion.num_classes = 10
  elif variant == "latent_digits":
    # the 32x32 digits the tokenizers of configs/vqgan.py, fsq.py train on; 8x8x4 FSQ latents
    c.data.update(source="digits", image_size=32, channels=1)
    c.diffusion.num_classes = 10
    c.latent.workdir = "runs/fsq_digits"
  elif variant == "shapes":
    c.data.update(source="shapes", image_size=32, channels=3)
    c.diffusion.num_classes = 3
  elif variant == "cifar10":
    c.data.update(source="tfds", name="cifar10", image_size=32, channels=3, eval_split="test")
    c.diffusion.num_classes = 10
  elif variant == "smoke":
    c.data.update(source="digits", image_size=16, channels=1, batch_size=16)
    c.diffusion.num_classes = 10
    c.total_steps = 4
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 2, 1000, 2
    c.eval.num_samples = 10
    c.eval.batch_size = 64
    c.eval.metric_samples = 20
  else:
    raise ValueError(f"unknown variant {variant!r}; use digits, latent_digits, shapes, "
                     "cifar10 or smoke")
  return c


def set_evaluators(c, variant: str):
  """digits and shapes: the sample grid (a row per class), conditional accuracy, domain FID,
  KID, precision/recall on the project's classifier for that dataset, as the GAN configs, so
  the rows sit in one table. cifar10 and smoke keep what the config chose."""
  if variant in ("digits", "latent_digits", "shapes"):
    c.eval.extractor = "vit_shapes" if variant == "shapes" else "vit_digits"
    conditional = ("conditional_accuracy",) if c.diffusion.num_classes else ()
    c.eval.evaluators = ("samples",) + conditional + ("fid", "kid", "pr")
  return c
