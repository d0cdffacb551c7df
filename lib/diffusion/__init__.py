"""Diffusion formulations: noise schedules, DDPM / DDIM (Gaussian diffusion in discrete time),
EDM (preconditioning, loss, sigma schedule, samplers), and the one interface a backbone is
trained and sampled through (formulations.py)."""
