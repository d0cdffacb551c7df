"""CycleGAN (Zhu et al. 2017, "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks"): two ResNet generators G: A -> B, F: B -> A (Appendix 7.2, 9 blocks
at 256 px, 6 at 128 px) and two 70x70 PatchGANs D_B, D_A, instance norm.

Both live in lib/nn (shared with pix2pix and CUT); this module names the paper's networks.
Objective and defaults: configs/cyclegan.py.
"""
from lib.nn.patch_discriminator import PatchDiscriminator as Discriminator  # noqa: F401
from lib.nn.resnet_generator import ResnetGenerator as Generator  # noqa: F401
