"""A tiny study over configs/vit.py:smoke for tests/studies: arg 'w=16+24,seeds=2,bad=...'."""
from configs.common import parse_arg
from configs.vit import get_config  # noqa: F401  (launch.py --config reads it from here)
from lib.studies.sweep import Sweep, grid


def get_sweep(arg=None):
  a = parse_arg(arg, w="16", seeds=1, bad="", steps=4)
  settings = grid({"model.hidden_size": [int(w) for w in a.w.split("+")]})
  seeds = list(range(a.seeds))
  if a.bad == "key":
    settings = grid({"model.hiden_size": [16]})
  elif a.bad == "type":
    settings = grid({"model.hidden_size": ["wide"]})
  elif a.bad == "empty":
    settings = grid({"model.hidden_size": []})
  elif a.bad == "seeds":
    seeds = "0,1"
  return Sweep(config_arg="smoke", settings=settings, seeds=seeds,
               fixed={"total_steps": a.steps}, metric="accuracy", mode="max", curve="loss")
