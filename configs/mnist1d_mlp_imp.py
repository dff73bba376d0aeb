"""IMP lottery-ticket search on the MNIST-1D MLP: the README's main job.

Command:  lottery run configs/mnist1d_mlp_imp.py
Runtime:  about 3 minutes on a 2-core laptop CPU (172 s, benchmarks/results/main_job-cpu.md).
Expected: the lottery-ticket effect of Frankle & Carbin (2019, Figure 3) on MNIST-1D:
          tickets between 9% and 15% density at least as accurate as the dense network
          (within a point) and several points above their random reinitializations.
Protocol: Frankle & Carbin's LeNet-300-100 recipe on MNIST-1D's 40 inputs: MLP
          40-300-100-10, Adam lr 1.2e-3, batch 100, 3000 steps per level, 20% of the
          remaining weights pruned per level (global over the hidden layers, the output
          layer at half rate: 10%), rewinding to initialization, controls `reinit` and
          `random_prune`, 3 replicates, 16 levels (density 100% down to 3.6%).
"""

from lottery.config import base


def get_config():
    """Returns the config of the main job (IMP on the MNIST-1D MLP)."""
    cfg = base()
    cfg.name = "mnist1d_mlp_imp"
    cfg.kind = "imp"
    cfg.replicates = 3
    cfg.model.name = "mlp"
    cfg.model.widths = (300, 100)
    cfg.data.name = "mnist1d"
    cfg.train.batch_size = 100
    cfg.train.duration = "3000it"
    cfg.train.eval_every = 5
    cfg.train.optimizer.name = "adam"
    cfg.train.optimizer.learning_rate = 1.2e-3
    cfg.imp.levels = 16
    cfg.imp.fraction = 0.2
    cfg.imp.scope = "global"
    cfg.imp.rates.out = 0.5
    cfg.imp.rewind = "init"
    cfg.imp.controls = ("reinit", "random_prune")
    return cfg
