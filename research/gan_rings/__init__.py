"""MLP generator and discriminator for 2-D toy data (the ring of 8 Gaussians, lib/data/rings.py)."""
