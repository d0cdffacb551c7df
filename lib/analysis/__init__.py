"""analysis: the notebook API over runs and checkpoints, and the analysis math (one file per
method: attention maps, CKA, rank collapse, probes, relative representations, weight
matching). Figures: `from lib.analysis import plots` (matplotlib, imported only when asked
for); notebooks/ uses all of it."""
from lib.analysis.attention_maps import (attention_flow, attention_rollout,
                                         attention_weights_of, residual_attention)
from lib.analysis.cka import cka_matrix, linear_cka, minibatch_cka
from lib.analysis.intermediates import collect, sown_intermediates
from lib.analysis.probes import linear_probe, logit_lens, probe_layers, vit_head_fn
from lib.analysis.relative import relative_projection
from lib.analysis.rank_collapse import relative_residual, residual_per_layer
from lib.analysis.run import Run, load_run
from lib.analysis.weight_matching import loss_barrier, permute_mlp  # the module keeps its name
