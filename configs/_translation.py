"""Keys every translation config shares (read by lib/tasks/translation.py); the paper configs
(pix2pix, cyclegan, ugatit, cut) fill them in.

`config.generator` / `config.discriminator` name the two Flax modules (import path +
kwargs), `config.nce_head` CUT's projection MLP; `config.optimizer_g` (generators and the NCE
head) and `config.optimizer_d` (discriminators); `config.translation` one key per loss term
(meanings: the task's docstring). Data: lib/data/domain_pairs.py (`data.source =
'domain_pair'`, `data.pair`, `data.paired`).
"""
import ml_collections

from configs.common import base_config, optimizer_config

# Data of the shared variants: (pair, paired, image channels, extractor of the domain FID,
# label classifiers of domains A and B: '' = the extractor; lib/train/translation_evaluators).
PAIR_VARIANTS = {
    "edges": ("digits_edges", True, 1, "vit_digits", ("", "")),
    "digits": ("digits_thick", False, 1, "vit_digits", ("", "vit_digits_thick")),
    "shapes": ("shapes_palette", False, 3, "vit_shapes", ("", "")),
}
EVALUATORS = ("translation_grid", "translation_fid", "label_preservation")


def translation_config() -> ml_collections.ConfigDict:
  c = base_config()
  c.task = "lib.tasks.translation"
  c.model.name = ""             # unused: see generator / discriminator
  c.generator = ml_collections.ConfigDict(dict(name=""))
  c.discriminator = ml_collections.ConfigDict(dict(name=""))
  c.nce_head = ml_collections.ConfigDict(dict(name="research.cut.model.PatchSampleMLP",
                                              mlp_dim=256))
  c.optimizer_g = optimizer_config(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999,
                                   schedule="constant")
  c.optimizer_d = optimizer_config(name="adam", learning_rate=2e-4, b1=0.5, b2=0.999,
                                   schedule="constant")
  c.data.source = "domain_pair"
  c.data.pair = "digits_thick"
  c.data.paired = False
  c.data.pair_seed = 0
  c.data.thick_radius = 2
  c.data.edge_radius = 1
  c.data.num_train = 10000      # shapes_palette only
  c.data.num_test = 500
  c.eval.evaluators = EVALUATORS
  c.eval.num_samples = 8
  c.eval.label_classifier_a = ""   # label preservation's classifier of domain A ('' = extractor)
  c.eval.label_classifier_b = ""   # ... of domain B

  t = c.translation = ml_collections.ConfigDict()
  t.gan_loss = "lsgan"
  t.adv_weight = 1.0
  t.d_loss_scale = 0.5
  t.l1_weight = 0.0
  t.cycle_weight = 0.0
  t.identity_weight = 0.0
  t.cam_weight = 0.0
  t.nce_weight = 0.0
  t.nce_idt = False
  t.nce_layers = (0, 2, 3, 4, 8)
  t.nce_num_patches = 256
  t.nce_temperature = 0.07
  t.pool_size = 0
  t.conditional_discriminator = False
  t.linear_decay_start = 0.5
  return c


def set_variant(c, variant: str, generator_channels_key: str = "out_channels"):
  """Data, sizes and cadence of the shared variants:
  edges   digits_edges (paired) 32 px, 1 channel     digits  digits_thick (unpaired)
  shapes  shapes_palette (unpaired) 32 px RGB        smoke   digits_thick 16 px, 4 steps
  folder  data.pair='folder' under data.path (trainA/, trainB/), 256 px RGB: defined only."""
  if variant in PAIR_VARIANTS:
    pair, paired, channels, extractor, (label_a, label_b) = PAIR_VARIANTS[variant]
    c.data.update(pair=pair, paired=paired, image_size=32, channels=channels, batch_size=16)
    c.eval.extractor = extractor
    c.eval.update(label_classifier_a=label_a, label_classifier_b=label_b)
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 50, 1000, 500
    c.eval.batch_size = 128
  elif variant == "smoke":
    c.data.update(pair="digits_thick", paired=False, image_size=16, channels=1, batch_size=8)
    c.total_steps = 4
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 2, 1000, 2
    c.eval.batch_size = 64
    c.eval.num_samples = 4
    c.eval.evaluators = ("translation_grid",)
    channels = 1
  elif variant == "folder":
    c.data.update(pair="folder", paired=False, image_size=256, channels=3, batch_size=1,
                  path="")
    c.eval.evaluators = ("translation_grid",)
    c.log_every, c.eval.every_steps, c.checkpoint.every_steps = 100, 5000, 5000
    channels = 3
  else:
    raise ValueError(f"unknown variant {variant!r}; use edges, digits, shapes, smoke or folder")
  c.generator[generator_channels_key] = channels
  return c
