"""analysis: the notebook API over runs and checkpoints."""
from lib.analysis.run import Run, load_run
