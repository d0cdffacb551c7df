"""pix2pix (Isola et al. 2017, "Image-to-Image Translation with Conditional Adversarial
Networks"): the U-Net generator (Sec. 3.2.1) and the conditional PatchGAN (Sec. 3.2.2), which
sees the input and the output concatenated (translation.conditional_discriminator).

Both live in lib/nn (shared with the other translation papers); this module names the
paper's networks: Generator = U-Net (unet_256: num_downs 8; 32 px: 5), Discriminator =
70x70 PatchGAN (n_layers 3). Objective and defaults: configs/pix2pix.py.
"""
from lib.nn.patch_discriminator import PatchDiscriminator as Discriminator  # noqa: F401
from lib.nn.unet_generator import UnetGenerator as Generator  # noqa: F401
