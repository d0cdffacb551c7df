"""GAN ablation study on the embedded digits: loss x regularizer x seeds at matched budgets
(StudioGAN / compare_gan style: every factor is one config key), and a budgeted random search
over the optimizer (Lucic et al., "Are GANs Created Equal?").

The base of every run is configs/dcgan.py (variant digits, or smoke for a tiny study).
Commands:
  python launch.py --sweep configs/gan_study.py:digits --workdir runs/gan_study --parallel 2
  python launch.py --sweep configs/gan_study.py:variant=digits,search=random,trials=20 --workdir runs/gan_search
  python -m lib.studies.report runs/gan_study
Result when last run: not run yet (hours on the 2-core CPU); the smoke variant's sweep is
expanded and validated by tests/studies/test_gan_study.py.
For the 8-Gaussian ring (benchmarks/gan_rings.py) no sweep is declared: that benchmark keeps
its own loop outside launch.py.
"""
from configs.common import parse_arg
from configs.dcgan import get_config as dcgan_config

LOSSES = ("nonsaturating", "hinge", "wasserstein", "relativistic")
REGULARIZERS = {                       # name -> the keys it sets (others stay 0 = off)
    "none": {},
    "gp": {"gan.gp_weight": 10.0},     # WGAN-GP
    "r1": {"gan.r1_gamma": 1.0},       # R1 on reals
    "r1r2": {"gan.r1_gamma": 1.0, "gan.r2_gamma": 1.0},   # R3GAN's pair
    "lecam": {"gan.lecam_weight": 0.3},
}


def get_config(arg: str | None = None):
  return dcgan_config(arg)


def get_sweep(arg: str | None = None):
  """arg: variant (digits | smoke), search (grid | random), seeds, steps, trials,
  losses ('a+b'), regs ('none+gp+...')."""
  from lib.studies.sweep import Sweep, choice, log_uniform, random_search, uniform
  a = parse_arg(arg, variant="digits", search="grid", seeds=3, steps=0, trials=20,
                losses="+".join(LOSSES), regs="+".join(REGULARIZERS))
  steps = a.steps or dcgan_config(a.variant).total_steps
  if a.search == "grid":
    settings = [{"gan.loss": loss, **{k: 0.0 for r in REGULARIZERS.values() for k in r},
                 **REGULARIZERS[reg]}
                for loss in a.losses.split("+") for reg in a.regs.split("+")]
  elif a.search == "random":
    settings = random_search({"gan.loss": choice(*LOSSES),
                              "optimizer.learning_rate": log_uniform(1e-5, 1e-3),
                              "optimizer.b1": uniform(0.0, 0.9),
                              "gan.n_critic": choice(1, 2, 5)}, a.trials, seed=0)
  else:
    raise ValueError(f"gan_study: search must be grid or random, got {a.search!r}")
  metric_mode = ("fid", "min") if a.variant != "smoke" else ("step", "max")
  return Sweep(config_arg=a.variant, settings=settings, seeds=list(range(a.seeds)),
               fixed={"total_steps": steps}, metric=metric_mode[0], mode=metric_mode[1],
               curve="d_loss")
