"""Small configs for the engine tests (ViT smoke on 16 px digits)."""
import ml_collections

from configs import vit


def smoke_config(**overrides) -> ml_collections.ConfigDict:
  c = vit.get_config("smoke")
  c.checkpoint.async_save = False
  for key, value in overrides.items():
    node = c
    *parents, leaf = key.split(".")
    for p in parents:
      node = node[p]
    node[leaf] = value
  return c
