"""Diffusion-GAN (Wang et al. 2023) on StyleGAN2, as the official diffusion-stylegan2: every
image D sees, real or fake, is x_t of a forward diffusion (linear betas 1e-4 -> 2e-2 over T
steps, sigma 0.05, t = 0 for half of them, else P(t) ~ t - 1), D is told t (the raw t joins
the label before D's cmap mapping), and T = t_min + p (t_max - t_min) adapts as ADA's p does
from r_d = E sign(D(x_real)) with target 0.6 and ada_kimg 100 (t_min 10, t_max 1000).
Everything else is configs/stylegan2.py of the same variant (lib/tasks/gan_diffusion.py).

Command:
  python launch.py --config configs/diffusion_gan.py:digits --workdir runs/diffusion_gan
Variants: those of configs/stylegan2.py (digits, shapes, cifar10, smoke); the limited-data
check trains digits on 200 and on 50 examples (`--config.data.train_examples=N`) beside
StyleGAN2 with no augmentation, ADA and DiffAugment: benchmarks/limited_data.py, its tables in
benchmarks/results/limited_data_digits{,_n50}.md.
Result when last run (2026-12-04, 2-core AMD EPYC CPU), limited data only, 1500 steps, FID
against the full training split: 200 digits FID 9.72 (StyleGAN2 without augmentation 9.29: D
does not overfit there); 50 digits FID 14.75, recall 0.836, T adapted to 998 (none 18.89, ADA
14.54): benchmarks/results/limited_data_digits_n50.md. The full-data digits run is not measured.
"""
from configs import stylegan2


def get_config(arg: str | None = None):
  c = stylegan2.get_config(arg)
  c.discriminator.timestep_conditioning = True
  c.gan.update(augment="diffusion", ada_target=0.6, ada_kimg=100.0, ada_interval=4,
               ada_p_init=0.0, diffusion_t_min=10, diffusion_t_max=1000,
               diffusion_noise_std=0.05, diffusion_ts_dist="priority")
  return c
