"""Bad sweep input stops before any run starts, naming the key."""
import os
import subprocess
import sys

import pytest

from lib.errors import ConfigError
from lib.studies import sweep as sweep_lib

CONFIG = "tests/studies/tiny_sweep_config.py"


@pytest.mark.parametrize("bad,named", [("key", "model.hiden_size"), ("type", "model.hidden_size"),
                                       ("empty", "model.hidden_size"), ("seeds", "seeds")])
def test_bad_sweep_is_refused_naming_the_key(bad, named):
  path, sw = sweep_lib.load_sweep(f"{CONFIG}:bad={bad}") if bad != "empty" else (CONFIG, None)
  with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
    if bad == "empty":
      sweep_lib.load_sweep(f"{CONFIG}:bad=empty")
    else:
      sweep_lib.expand(path, sw)


def test_seed_list_of_wrong_kind():
  base = dict(config_arg="smoke", settings=[{"model.hidden_size": 16}])
  for seeds in ([], [0, "1"], [True], [0, 0], 3):
    with pytest.raises(ConfigError, match="seeds"):
      sweep_lib.expand(CONFIG, sweep_lib.Sweep(seeds=seeds, **base))


def test_expansion_names_and_random_search_is_seeded():
  runs = sweep_lib.expand(*sweep_lib.load_sweep(f"{CONFIG}:w=16+24,seeds=2"))
  assert [r.name for r in runs] == ["model.hidden_size=16,seed=0", "model.hidden_size=16,seed=1",
                                    "model.hidden_size=24,seed=0", "model.hidden_size=24,seed=1"]
  assert runs[1].overrides == {"total_steps": 4, "model.hidden_size": 16, "seed": 1}
  space = {"optimizer.learning_rate": sweep_lib.log_uniform(1e-4, 1e-2),
           "model.depth": sweep_lib.choice(1, 2)}
  a, b = sweep_lib.random_search(space, 5, seed=3), sweep_lib.random_search(space, 5, seed=3)
  assert a == b and len(a) == 5
  assert all(1e-4 <= s["optimizer.learning_rate"] <= 1e-2 and s["model.depth"] in (1, 2) for s in a)
  sweep_lib.expand(CONFIG, sweep_lib.Sweep(config_arg="smoke", settings=a, seeds=[0]))


def test_launch_refuses_bad_sweep_before_writing(tmp_path):
  root = tmp_path / "study"
  p = subprocess.run([sys.executable, "launch.py", "--sweep", f"{CONFIG}:bad=key",
                      "--workdir", str(root)], capture_output=True, text=True)
  assert p.returncode == 2 and "model.hiden_size" in p.stderr
  assert not os.path.exists(root)
