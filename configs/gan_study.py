r"""GAN ablation study (issue 12, study 2): loss x regularizer x seeds at matched budgets
(StudioGAN / compare_gan style: every factor is one config key), on the ring of 8 Gaussians and
on the embedded digits, and a budgeted random search over the optimizer (Lucic et al., "Are
GANs Created Equal?").

Variants (the base config of every run; `get_config(variant)`):
  rings         MLP 3x128 G and D, z 64, Adam (b1 0, b2 0.99), lr 1e-3 cosine, batch 128
                (benchmarks/gan_rings.py's ring_config starts from this), data `rings`
                (lib/data/rings.py), evaluator `ring_modes` at the end only (modes, high_quality
                on 2000 raw G samples). Regularizers at the benchmark's toy values
                (RING_REGULARIZERS: R1/R2 gamma 0.1, GP weight 0.1). Metric: modes, max.
  digits_study  configs/dcgan.py:digits cut to a CPU budget: 16x16 digits, 500 steps, final FID,
                KID, precision/recall on 500 samples (vit_digits features). Metric: fid, min.
                Regularizers at REGULARIZERS (R1/R2 gamma 1, GP weight 10). The issue asks for 5
                seeds (the stored study: seeds=5, 60 runs, 36 min); the default is 3.
  digits        configs/dcgan.py:digits (3000 steps, 32x32, 1000 metric samples): hours here.
  smoke         a tiny study for tests.
Sweeps (grid): losses nonsaturating, hinge, relativistic (RpGAN) x regularizers none, r1,
r1r2, gp (losses=..., regs=... choose others, e.g. wasserstein, lecam).
Commands:
  python launch.py --sweep configs/gan_study.py:rings --workdir /tmp/gan_study_rings --parallel 2
  python -m lib.studies.report /tmp/gan_study_rings
  python launch.py --sweep configs/gan_study.py:digits_study --workdir /tmp/gan_study_digits \
      --parallel 2
  python -m lib.studies.report /tmp/gan_study_digits
  python launch.py --sweep configs/gan_study.py:variant=digits,search=random,trials=20 \
      --workdir runs/gan_search
Result when last run (2026-12-02, 2-core AMD EPYC CPU shared with other jobs, 1 device):
  rings (60 runs, 2500 steps, 21 min 40 s wall at --parallel 2; one run alone 23.5 s):
  modes per seed (of 8) | nonsaturating | hinge | relativistic
    none                |  2 1 1 2 2    | 3 4 3 4 3 | 2 2 3 2 3
    r1 (0.1)            |  7 7 8 6 8    | 6 7 6 7 6 | 8 8 8 8 7
    r1r2 (0.1, 0.1)     |  8 8 8 8 8    | 8 8 8 8 8 | 8 8 8 8 8
    gp (0.1)            |  6 8 7 8 6    | 7 6 7 7 7 | 8 8 7 7 6
  R3GAN's claim holds (RpGAN + R1 + R2: all 8 modes in 5/5 seeds; plain NS: 1-2 modes in
  every seed), but R1 + R2 with any of the three losses covers all 8 in 5/5 seeds, and RpGAN
  alone covers 2-3: the regularizer pair does the work at this budget.
  benchmarks/results/studies/gan_rings_losses_regs/.
  digits_study,seeds=5 (60 runs; seeds 0-1 two at a time, 17 min; seeds 2-4 one at a time,
  19 min): FID (500 samples, vit_digits) mean over seeds, nonsaturating / hinge / relativistic
    none 8.16 / 7.52 / 10.51, r1 6.40 / 7.18 / 6.66, r1r2 6.83 / 7.55 / 7.05,
    gp 6.57 / 6.83 / 7.03; paired with the same seed, every regularizer lowers FID with the
  nonsaturating (-1.3..-1.8) and relativistic (-3.5..-3.9) losses, none does so separably
  with hinge; RpGAN + R1 + R2 is no better than the other regularized settings.
  benchmarks/results/studies/gan_digits_losses_regs/ (python -m benchmarks.gan_study_summary).
"""
from configs._gan import gan_config
from configs.common import parse_arg
from configs.dcgan import get_config as dcgan_config
from lib.errors import ConfigError

LOSSES = ("nonsaturating", "hinge", "wasserstein", "relativistic")
STUDY_LOSSES = ("nonsaturating", "hinge", "relativistic")
STUDY_REGULARIZERS = ("none", "r1", "r1r2", "gp")
REGULARIZERS = {                       # name -> the keys it sets (others stay 0 = off)
    "none": {},
    "gp": {"gan.gp_weight": 10.0},     # WGAN-GP Eq. 3, lambda 10
    "r1": {"gan.r1_gamma": 1.0},       # R1 on reals (Mescheder et al. 2018, Eq. 9)
    "r1r2": {"gan.r1_gamma": 1.0, "gan.r2_gamma": 1.0},   # R3GAN's pair (Eq. 9 and 10)
    "lecam": {"gan.lecam_weight": 0.3},
}
# The toy values of benchmarks/gan_rings.py (R3GAN's and WGAN-GP's 2-D settings).
RING_REGULARIZERS = {**REGULARIZERS, "gp": {"gan.gp_weight": 0.1},
                     "r1": {"gan.r1_gamma": 0.1},
                     "r1r2": {"gan.r1_gamma": 0.1, "gan.r2_gamma": 0.1}}
VARIANTS = ("rings", "digits_study", "digits", "shapes", "cifar10", "smoke")
RING_STEPS = 2500
DIGITS_STUDY_STEPS = 500


def rings_config(steps: int = RING_STEPS, batch: int = 128, hidden: int = 128):
  """The ring of 8 Gaussians through launch.py: the settings of benchmarks/gan_rings.py."""
  c = gan_config()
  c.total_steps = steps
  c.generator.update(name="research.gan_rings.model.MLPGenerator", hidden=hidden)
  c.discriminator.update(name="research.gan_rings.model.MLPDiscriminator", hidden=hidden)
  c.gan.update(loss="nonsaturating", z_dim=64, num_classes=8)
  adam = dict(name="adam", learning_rate=1e-3, schedule="cosine", b1=0.0, b2=0.99)
  c.optimizer_g.update(**adam)
  c.optimizer_d.update(**adam)
  c.data.update(source="rings", image_size=1, channels=2, batch_size=batch)
  c.eval.evaluators = ("ring_modes",)
  c.log_every, c.checkpoint.every_steps = 100, 500
  c.eval.every_steps = 10**9          # the evaluators run at the end only
  return c


def digits_study_config():
  """configs/dcgan.py:digits at 16x16 with a short budget and 500 metric samples."""
  c = dcgan_config("digits")
  c.data.image_size = c.generator.image_size = 16
  c.total_steps = DIGITS_STUDY_STEPS
  c.log_every, c.checkpoint.every_steps = 50, 250
  c.eval.every_steps = 10**9          # the evaluators run at the end only
  c.eval.metric_samples = 500
  c.eval.num_samples = 64
  return c


def get_config(arg: str | None = None):
  variant = parse_arg(arg, variant="digits").variant
  if variant == "rings":
    return rings_config()
  if variant == "digits_study":
    return digits_study_config()
  if variant not in VARIANTS:
    raise ConfigError(f"configs/gan_study.py: variant {variant!r} is unknown; use one of "
                      f"{', '.join(VARIANTS)}")
  return dcgan_config(variant)


def get_sweep(arg: str | None = None):
  """arg: variant (rings | digits_study | digits | smoke), search (grid | random), seeds,
  steps, trials, losses ('a+b'), regs ('none+gp+...')."""
  from lib.studies.sweep import Sweep, choice, log_uniform, random_search, uniform
  a = parse_arg(arg, variant="digits", search="grid", seeds=0, steps=0, trials=20,
                losses="+".join(STUDY_LOSSES), regs="+".join(STUDY_REGULARIZERS))
  if a.variant not in VARIANTS:
    raise ConfigError(f"gan_study sweep: variant {a.variant!r} is unknown; use one of "
                      f"{', '.join(VARIANTS)}")
  seeds = a.seeds or (5 if a.variant == "rings" else 3)
  steps = a.steps or get_config(a.variant).total_steps
  table = RING_REGULARIZERS if a.variant == "rings" else REGULARIZERS
  if a.search == "grid":
    for name, known, key in ((a.losses, LOSSES, "losses"), (a.regs, tuple(table), "regs")):
      bad = [x for x in name.split("+") if x not in known]
      if bad:
        raise ConfigError(f"gan_study sweep: {key}={name!r} names {bad}; use '+'-joined names "
                          f"from {', '.join(known)}")
    regs = a.regs.split("+")
    off = {k: 0.0 for r in regs for k in table[r]}    # every swept key, 0 = off
    settings = [{"gan.loss": loss, **off, **table[reg]}
                for loss in a.losses.split("+") for reg in regs]
  elif a.search == "random":
    # Lucic et al. Sec. 5: learning rate, beta1 and n_disc drawn per trial; the GAN task reads
    # optimizer_g / optimizer_d (config.optimizer is unused by GANs), G and D drawn apart.
    settings = random_search({"gan.loss": choice(*LOSSES),
                              "optimizer_g.learning_rate": log_uniform(1e-5, 1e-3),
                              "optimizer_d.learning_rate": log_uniform(1e-5, 1e-3),
                              "optimizer_g.b1": uniform(0.0, 0.9),
                              "optimizer_d.b1": uniform(0.0, 0.9),
                              "gan.n_critic": choice(1, 2, 5)}, a.trials, seed=0)
  else:
    raise ConfigError(f"gan_study sweep: search must be grid or random, got {a.search!r}")
  metric, mode, curve = {"rings": ("modes", "max", "d_loss"),
                         "smoke": ("step", "max", "d_loss")}.get(a.variant, ("fid", "min", "d_loss"))
  return Sweep(config_arg=a.variant, settings=settings, seeds=list(range(seeds)),
               fixed={"total_steps": steps}, metric=metric, mode=mode, curve=curve)
