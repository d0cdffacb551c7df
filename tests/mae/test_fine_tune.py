"""The fine_tune evaluator: trains a copy of the encoder plus a new head end to end, scores it
on the eval split, and leaves the run's own state unchanged."""
import jax
import numpy as np

from configs import mae
from lib.train.evaluators import make_evaluators
from lib.train.loop import Trainer


def test_fine_tune_learns_digits_and_leaves_the_state_alone(tmp_path):
  c = mae.get_config("smoke")
  c.checkpoint.async_save = False
  c.eval.evaluators = ("fine_tune",)
  c.fine_tune.steps, c.fine_tune.learning_rate = 60, 3e-3
  trainer = Trainer(c, str(tmp_path / "w"))
  results = trainer.run()
  assert results["fine_tune_accuracy"] > 0.3           # 10 classes: chance is 0.1
  state = trainer.final_state
  before = jax.device_get(state.params)
  (name, evaluate), = make_evaluators(c, trainer.task, trainer.mesh, trainer.state_shardings,
                                      str(tmp_path / "w"))
  again = evaluate(state, 4, False)
  assert name == "fine_tune" and 0.0 <= again["fine_tune_accuracy"] <= 1.0
  jax.tree.map(np.testing.assert_array_equal, before, jax.device_get(state.params))
