"""`launch.py --mode translate` (lib/train/translate_folder.py) with a CycleGAN smoke run
trained one step: one PNG per input image under the same relative name, at the run's size
and channel count, equal to the generator applied to the prepared input; a missing --input
is one clean error through launch.py."""
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

from configs import cyclegan
from lib.data.preprocess import prepare_image
from lib.errors import DataError
from lib.train.loop import Trainer
from lib.train.restore import restore_run
from lib.train.translate_folder import translate_folder

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  c = cyclegan.get_config("smoke")
  c.total_steps = c.checkpoint.every_steps = 1
  c.checkpoint.async_save = False
  c.eval.evaluators = ()                    # only the checkpoint is needed
  wd = str(tmp_path_factory.mktemp("translate") / "cyclegan")
  Trainer(c, wd).run()
  return wd


def _inputs(folder):
  """Three images of other sizes and modes than the run's 16 px gray: RGB PNG, gray JPEG,
  and a gray PNG in a subfolder."""
  rng = np.random.default_rng(0)
  (folder / "sub").mkdir(parents=True)
  Image.fromarray(rng.integers(0, 256, (20, 24, 3), np.uint8)).save(folder / "rgb.png")
  Image.fromarray(rng.integers(0, 256, (40, 40), np.uint8)).save(folder / "gray.jpg")
  Image.fromarray(rng.integers(0, 256, (16, 16), np.uint8)).save(folder / "sub" / "d.png")
  (folder / "notes.txt").write_text("not an image")
  return {"rgb.png": "rgb.png", "gray.jpg": "gray.png", "sub/d.png": "sub/d.png"}


def test_translate_folder_writes_one_png_per_image(run_dir, tmp_path):
  names = _inputs(tmp_path / "in")
  out = tmp_path / "out"
  result = translate_folder(run_dir, str(tmp_path / "in"), str(out))
  assert result["translated"] == 3 and result["step"] == 1
  written = sorted(os.path.relpath(os.path.join(r, f), out)
                   for r, _, fs in os.walk(out) for f in fs)
  assert written == sorted(names.values())
  config, task, state, _ = restore_run(run_dir, None)
  for src, dst in names.items():
    with Image.open(out / dst) as im:
      assert im.size == (16, 16) and im.mode == "L"            # the run's size, 1 channel
      got = np.asarray(im, np.float64)
    with Image.open(tmp_path / "in" / src) as im:
      x = prepare_image(np.asarray(im.convert("L")), 16, 1)
    want = np.asarray(jax.device_get(task.translate(config, state, x[None])[0]))[0, ..., 0]
    want = np.clip((want + 1.0) * 127.5 + 0.5, 0, 255)
    assert np.abs(got - np.floor(want)).max() <= 1.0          # the generator's output, as uint8


def test_translate_folder_bad_input(run_dir, tmp_path):
  (tmp_path / "empty").mkdir()
  with pytest.raises(DataError, match="holds no images"):
    translate_folder(run_dir, str(tmp_path / "empty"), str(tmp_path / "out"))
  env = dict(os.environ, JAX_PLATFORMS="cpu")   # XLA_FLAGS: conftest.py\'s
  out = tmp_path / "out"
  p = subprocess.run([sys.executable, "launch.py", "--mode", "translate", "--workdir", run_dir,
                      "--output", str(out)], cwd=ROOT, env=env, capture_output=True,
                     timeout=300)
  err = p.stderr.decode()
  assert p.returncode == 2, err[-3000:]
  assert "Traceback" not in err and err.count("error:") == 1, err[-3000:]
  assert "--input" in " ".join(err.split())
  assert not out.exists()
