"""Pruning at initialization on the MNIST-1D CNN: random, magnitude, SNIP, GraSP, SynFlow.

Command:  lottery run configs/mnist1d_cnn_pai.py
Runtime:  about 6 minutes on a 2-core CPU (368 s, benchmarks/results/mnist1d_cnn_pai-cpu.md).
Expected: as for the MLP sweep; convolutions have far fewer weights than the
          classifier, so global rankings thin them unevenly and layer collapse
          appears earlier for random and magnitude.
Protocol: cnn1d (3 strided convs of 32 channels, linear classifier), Adam 1e-2,
          batch 100, 3000 steps; densities 10^-0.5 to 10^-3 in quarter decades,
          global over all kernels; SNIP/GraSP 10 examples per class, GraSP T = 200,
          SynFlow 100 rounds; 3 replicates.
"""

from lottery.config import base


def get_config():
    """Returns the MNIST-1D CNN pruning-at-initialization sweep."""
    cfg = base()
    cfg.name = "mnist1d_cnn_pai"
    cfg.kind = "pai"
    cfg.replicates = 3
    cfg.model.name = "cnn1d"
    cfg.data.name = "mnist1d"
    cfg.train.batch_size = 100
    cfg.train.duration = "3000it"
    cfg.train.eval_every = 25
    cfg.train.optimizer.name = "adam"
    cfg.train.optimizer.learning_rate = 1e-2
    return cfg
