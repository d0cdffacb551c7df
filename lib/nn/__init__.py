"""Shared layers: spectral norm (flax's + ViTGAN's improved SN), StyleGAN2 modulated conv,
conditional BatchNorm, self-modulated LayerNorm, the ResNet / StyleGAN GAN blocks and the
class-conditional discriminator head."""
