"""Conv-2 on CIFAR-10, the protocol of Frankle & Carbin (ICLR 2019).

Command:  lottery run configs/cifar10_conv2.py
          (CIFAR-10 must be prepared once: tfds build cifar10 --file_format=array_record)
Runtime:  about 73 min on a 2-core CPU (20,000 steps at 0.22 s; benchmarks/config_runtimes.py).
Expected: test accuracy about 0.65 (Frankle & Carbin, Figure 2/5, dense Conv-2; read
          off a plot, so approximate).
Protocol: conv 64, 64, pool, fc 256, 256, 10 (4,301,642 params), Adam lr 2e-4,
          batch 60, 20,000 iterations, no augmentation; pruning rates (next issue):
          conv 10%, fc 20%, output 10%. (The lr and iteration count are as recalled
          from the paper's Figure 2, unverified.)
"""

from lottery.config import base


def get_config():
    """Returns the config: Conv-2, CIFAR-10, Adam 2e-4, batch 60, 20K iterations."""
    cfg = base()
    cfg.name = "cifar10_conv2"
    cfg.model.name = "conv2"
    cfg.data.name = "cifar10"
    cfg.data.augment = "none"
    cfg.train.batch_size = 60
    cfg.train.duration = "20000it"
    cfg.train.eval_every = 5
    cfg.train.optimizer.name = "adam"
    cfg.train.optimizer.learning_rate = 2e-4
    return cfg
