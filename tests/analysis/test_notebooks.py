"""The analysis notebooks run end to end (nbclient, a kernel from this venv) on tiny runs
trained here in seconds, and produce their figures; the committed notebooks carry no outputs."""
import glob
import os

import nbformat
import pytest
from nbclient import NotebookClient

from configs import cgan, vit
from lib.train.loop import Trainer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOKS = os.path.join(ROOT, "notebooks")

# notebook -> (the run it reads, the PNGs it saves under FIGURES_DIR)
EXPECTED = {
    "analyze_run.ipynb": ("vit", {"vit_curves", "vit_predictions", "vit_attention_heads",
                                  "vit_rollout", "vit_cka", "vit_probes"}),
    "gan_run.ipynb": ("gan", {"gan_curves", "gan_samples_per_class", "gan_truncation_sweep"}),
    "rank_collapse.ipynb": ("vit", {"rank_collapse"}),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  out = {}
  for name, module in (("vit", vit), ("gan", cgan)):
    config = module.get_config("smoke")
    config.checkpoint.async_save = False
    out[name] = str(tmp_path_factory.mktemp(name))
    Trainer(config, out[name]).run()
  return out


def _execute(path: str, env: dict) -> nbformat.NotebookNode:
  nb = nbformat.read(path, as_version=4)
  kernel_env = {**os.environ, "PYTHONPATH": ROOT, "JAX_PLATFORMS": "cpu",
                "MPLBACKEND": "Agg", **env}
  client = NotebookClient(nb, timeout=120, kernel_name="python3",
                          resources={"metadata": {"path": ROOT}})
  client.execute(env=kernel_env)   # raises CellExecutionError naming the failing cell
  return nb


def _outputs(nb, mime: str) -> list:
  return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
          if mime in o.get("data", {})]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_and_saves_its_figures(runs, tmp_path, name):
  run_name, figures = EXPECTED[name]
  figures_dir = tmp_path / "figures"
  env = {"WORKDIR": runs[run_name], "FIGURES_DIR": str(figures_dir), "DEPTH": "6",
         "SEEDS": "2", "PER_CLASS": "3", "NUM_EXAMPLES": "128"}
  nb = _execute(os.path.join(NOTEBOOKS, name), env)
  errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
            if o.output_type == "error"]
  assert not errors
  saved = {os.path.splitext(p)[0] for p in os.listdir(figures_dir)}
  assert saved == figures
  for f in figures:
    with open(figures_dir / f"{f}.png", "rb") as fh:
      assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
  # every figure is displayed too (the cell's value), at least one per saved PNG
  assert len(_outputs(nb, "image/png")) >= len(figures)
  if name in ("analyze_run.ipynb", "gan_run.ipynb"):
    html = "".join(str(o["data"]["text/html"]) for o in _outputs(nb, "text/html"))
    assert "treescope" in html    # show_config / show_params rendered the trees


def test_committed_notebooks_are_stripped():
  paths = sorted(glob.glob(os.path.join(NOTEBOOKS, "*.ipynb")))
  assert {os.path.basename(p) for p in paths} == set(EXPECTED), \
      "a new notebook needs its entry in EXPECTED so the tests execute it"
  for path in paths:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
      if cell.cell_type == "code":
        assert cell.outputs == [] and cell.execution_count is None, \
            f"{os.path.basename(path)} has outputs: strip them before committing"
