"""Structured versus unstructured tickets on the MNIST-1D CNN (Chen et al. 2022 analogue).

Command:  lottery run configs/mnist1d_cnn_structured.py
Runtime:  about 4 minutes on a 2-core CPU (229 s, benchmarks/results/mnist1d_cnn_structured-cpu.md).
Expected: channel IMP and IMP-Refill give genuinely smaller networks (fewer
          parameters and FLOPs once compacted) at the same density as unstructured
          IMP; Chen et al. find channel-wise tickets fall behind unstructured ones as
          sparsity grows, with IMP-Refill in between.
Protocol: cnn1d (3 strided convs of 32 channels, linear classifier), Adam 1e-2,
          batch 100, 1500 steps per level; each level prunes towards 80% of the
          previous density (all kernels, global ranking for the unstructured and
          refill steps); channel IMP ranks channels by the L1 norm of the filter
          (Li et al. 2017) and keeps the same fraction in every layer; rewinding to
          step 80 (2 epochs), the `reinit` control, 3 replicates, 11 levels (100%
          down to 10.7%).
"""

from lottery.config import base


def get_config():
    """Returns the MNIST-1D CNN comparison of channel IMP, IMP-Refill and unstructured IMP."""
    cfg = base()
    cfg.name = "mnist1d_cnn_structured"
    cfg.kind = "structured"
    cfg.replicates = 3
    cfg.model.name = "cnn1d"
    cfg.model.channels = 32
    cfg.data.name = "mnist1d"
    cfg.train.batch_size = 100
    cfg.train.duration = "1500it"
    cfg.train.eval_every = 5
    cfg.train.optimizer.name = "adam"
    cfg.train.optimizer.learning_rate = 1e-2
    cfg.imp.levels = 11
    cfg.imp.fraction = 0.2
    cfg.imp.scope = "global"
    cfg.imp.rewind = "2ep"
    cfg.imp.controls = ("reinit",)
    cfg.imp.structure = "weights"
    cfg.imp.group_score = "l1"
    cfg.structured.variants = ("weights", "channels", "refill")
    return cfg
