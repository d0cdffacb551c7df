"""`launch.py --mode translate --workdir W --input DIR --output DIR`: translates every image
under DIR (png, jpg, jpeg, bmp, gif, webp; found recursively) with the trained run in W and
writes PNGs of the same relative names under --output. Images are center-cropped to a square
and resized to the run's data.image_size with its channel count, as in training."""
from __future__ import annotations

import os

import jax
import numpy as np
from PIL import Image

from lib.data.folder import IMAGE_EXTENSIONS, _images_under
from lib.data.preprocess import prepare_image
from lib.errors import ConfigError, DataError
from lib.train.restore import restore_run

BATCH = 16


def translate_folder(workdir: str, input_dir: str, output_dir: str, step: int | None = None,
                     direction: str = "ab") -> dict:
  if not input_dir or not output_dir:
    raise ConfigError("--mode translate needs --input (a folder of images) and --output (where "
                      "the translations go)")
  if not os.path.isdir(input_dir):
    raise DataError(f"--input {input_dir!r} is not a folder; give a folder of images")
  files = _images_under(input_dir)
  if not files:
    raise DataError(f"--input {input_dir!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
  config, task, state, step = restore_run(workdir, step)
  if not hasattr(task, "translate"):
    raise ConfigError(f"the run in {workdir} is a {config.task} run, not a translation run "
                      f"(lib.tasks.translation): --mode translate needs one")
  size, channels = int(config.data.image_size), int(config.data.channels or 3)
  run = jax.jit(lambda s, x: task.translate(config, s, x, direction)[0])
  written = []
  for start in range(0, len(files), BATCH):
    chunk = files[start:start + BATCH]
    images = []
    for path in chunk:
      try:
        with Image.open(path) as im:
          pixels = np.asarray(im.convert("RGB" if channels == 3 else "L"))
      except (OSError, ValueError) as e:
        raise DataError(f"image {path} could not be read ({e}); replace or remove it") from e
      images.append(prepare_image(pixels, size, channels))
    batch = np.stack(images + [images[-1]] * (BATCH - len(images)))   # one compiled shape
    out = np.asarray(jax.device_get(run(state, batch)))[:len(chunk)]
    for path, image in zip(chunk, out):
      rel = os.path.splitext(os.path.relpath(path, input_dir))[0] + ".png"
      dest = os.path.join(output_dir, rel)
      os.makedirs(os.path.dirname(dest), exist_ok=True)
      pixels = np.clip((image + 1.0) * 127.5 + 0.5, 0, 255).astype(np.uint8)
      Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(dest)
      written.append(dest)
  return {"step": int(step), "translated": len(written), "output": output_dir}
