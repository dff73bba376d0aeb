"""IMP lottery-ticket search on LeNet-300-100 and MNIST, Frankle & Carbin (ICLR 2019).

Command:  lottery run configs/mnist_lenet300_imp.py
          (MNIST must be prepared once: tfds build mnist --file_format=array_record);
          lottery run configs/mnist_lenet300_imp.py --synthetic  trains on random data
          of MNIST's shapes and sizes instead, to measure speed without MNIST.
Runtime:  meant for an accelerator (target: under 10 minutes): 7.75M network-steps
          (the dense level's 5 replicates, then the ticket and `reinit` x 5 replicates
          at 15 pruned levels, each level's 10 networks as one vmapped program, 50,000
          steps each). Estimate on a 2-core CPU: about 1.9 h, extrapolated from two
          short measured runs by `python benchmarks/lenet300_reference.py`
          (benchmarks/results/lenet300_reference-cpu.md).
Expected: the paper's figures (not yet reproduced here): tickets more than 0.3 points
          more accurate than the dense network (about 0.98) at 13.5% density and back
          to its accuracy at 3.6%; `reinit` tickets learn slower and lose accuracy much
          earlier.
Protocol: 784-300-100-10 MLP, Adam lr 1.2e-3, batch 60, 50,000 iterations (50 epochs)
          per level, 20% of the remaining weights pruned per level (global over the
          hidden layers, the output layer at half rate: 10%), rewinding to
          initialization, 5 replicates, 16 levels (density 100% down to 3.6%), control
          `reinit`; add `random_prune` with --config.imp.controls="('reinit','random_prune')"
          (one more 50,000-step training per level).
"""

from lottery.config import base


def get_config():
    """Returns the config: IMP on LeNet-300-100, MNIST, 16 levels, 5 replicates."""
    cfg = base()
    cfg.name = "mnist_lenet300_imp"
    cfg.kind = "imp"
    cfg.replicates = 5
    cfg.model.name = "mlp"
    cfg.model.widths = (300, 100)
    cfg.data.name = "mnist"
    cfg.train.batch_size = 60
    cfg.train.duration = "50000it"
    cfg.train.eval_every = 5  # epochs of 1000 steps: 10 evaluations per training
    cfg.train.optimizer.name = "adam"
    cfg.train.optimizer.learning_rate = 1.2e-3
    cfg.imp.levels = 16
    cfg.imp.fraction = 0.2
    cfg.imp.scope = "global"
    cfg.imp.rates.out = 0.5  # a multiplier of imp.fraction: the output layer loses 10%
    cfg.imp.rewind = "init"
    cfg.imp.controls = ("reinit",)
    cfg.imp.checkpoint_every = "10ep"
    return cfg
