"""Projected GAN (Sauer et al. 2021): a frozen feature network, random projections and
multi-scale discriminators (model.py)."""
