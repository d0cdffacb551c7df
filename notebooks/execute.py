"""Executes an analysis notebook headless, e.g. to write its figures:

  WORKDIR=runs/vit_digits FIGURES_DIR=docs/figures/analysis \
      python notebooks/execute.py notebooks/analyze_run.ipynb [executed.ipynb]

The kernel is this Python (the venv's ipykernel), started in the repo root with the repo on
its path; the notebook's parameters (WORKDIR, STEP, FIGURES_DIR, ...) come from the
environment. The notebook in the repo is left as it is (outputs stay stripped); the executed
copy is written only when a second path is given.
"""
import os
import sys

import nbformat
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv):
  if len(argv) not in (2, 3):
    sys.exit(__doc__)
  nb = nbformat.read(argv[1], as_version=4)
  env = {**os.environ, "PYTHONPATH": os.pathsep.join(
      p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
  NotebookClient(nb, timeout=600, kernel_name="python3",
                 resources={"metadata": {"path": ROOT}}).execute(env=env)
  if len(argv) == 3:
    nbformat.write(nb, argv[2])
  print(f"{argv[1]}: executed without error")


if __name__ == "__main__":
  main(sys.argv)
