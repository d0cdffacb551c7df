"""The GAN study's sweeps (grid: loss x regularizer x seeds; random search) validate."""
from lib.studies import sweep as sweep_lib


def test_gan_grid_and_random_search_expand():
  path, sw = sweep_lib.load_sweep("configs/gan_study.py:variant=smoke,seeds=2,regs=none+gp+r1")
  runs = sweep_lib.expand(path, sw)
  assert len(runs) == 3 * 3 * 2     # nonsaturating, hinge, relativistic x none, gp, r1 x 2
  gp = [r for r in runs if r.setting["gan.gp_weight"] == 10.0]
  assert len(gp) == 6 and all(r.setting["gan.r1_gamma"] == 0.0 for r in gp)
  assert len({r.name for r in runs}) == len(runs)
  path, sw = sweep_lib.load_sweep("configs/gan_study.py:variant=smoke,search=random,trials=5,seeds=1")
  runs = sweep_lib.expand(path, sw)
  assert len(runs) == 5
  # Only keys the GAN task reads (it builds G's and D's optimizers from optimizer_g/_d and never
  # reads config.optimizer): a search over an unused key would be a silent no-op.
  keys = {k for r in runs for k in r.setting}
  assert keys == {"gan.loss", "gan.n_critic", "optimizer_g.learning_rate",
                  "optimizer_d.learning_rate", "optimizer_g.b1", "optimizer_d.b1"}
  assert len({r.setting["optimizer_g.learning_rate"] for r in runs}) == 5
