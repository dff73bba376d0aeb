"""Pruning at initialization on the MNIST-1D MLP: random, magnitude, SNIP, GraSP, SynFlow.

Command:  lottery run configs/mnist1d_mlp_pai.py
Runtime:  about 4 minutes on a 2-core CPU (251 s, benchmarks/results/mnist1d_mlp_pai-cpu.md).
Expected: the Tanaka et al. (2020) picture in miniature: all methods close at
          moderate densities, random and magnitude degrade first at extreme
          densities, SynFlow without layer collapse at 10^-2.5.
Protocol: the main job's network and training (MLP 40-300-100-10, Adam 1.2e-3,
          batch 100, 3000 steps), pruned once at initialization to each density from
          10^-0.5 down to 10^-3 in quarter decades, globally over all kernels;
          SNIP and GraSP score 10 examples per class (GraSP T = 200); SynFlow is
          data-free with 100 rounds; 3 replicates.
"""

from lottery.config import base


def get_config():
    """Returns the MNIST-1D MLP pruning-at-initialization sweep."""
    cfg = base()
    cfg.name = "mnist1d_mlp_pai"
    cfg.kind = "pai"
    cfg.replicates = 3
    cfg.model.name = "mlp"
    cfg.model.widths = (300, 100)
    cfg.data.name = "mnist1d"
    cfg.train.batch_size = 100
    cfg.train.duration = "3000it"
    cfg.train.eval_every = 25
    cfg.train.optimizer.name = "adam"
    cfg.train.optimizer.learning_rate = 1.2e-3
    return cfg
