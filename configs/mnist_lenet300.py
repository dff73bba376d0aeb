"""LeNet-300-100 on MNIST, the protocol of Frankle & Carbin (ICLR 2019).

Command:  lottery run configs/mnist_lenet300.py
          (MNIST must be prepared once: tfds build mnist --file_format=array_record)
Runtime:  about 4 min on a 2-core CPU (50,000 steps at 4.6 ms; benchmarks/config_runtimes.py).
Expected: test accuracy about 0.98 (Frankle & Carbin's dense LeNet-300-100).
Protocol: 784-300-100-10 MLP (266,610 params), Adam lr 1.2e-3, batch 60, 50,000
          iterations, no augmentation; pruning rates (next issue): fc 20%, output 10%.
"""

from lottery.config import base


def get_config():
    """Returns the config: LeNet-300-100, MNIST, Adam 1.2e-3, batch 60, 50K iterations."""
    cfg = base()
    cfg.name = "mnist_lenet300"
    cfg.model.name = "mlp"
    cfg.model.widths = (300, 100)
    cfg.data.name = "mnist"
    cfg.train.batch_size = 60
    cfg.train.duration = "50000it"
    cfg.train.eval_every = 5
    cfg.train.optimizer.name = "adam"
    cfg.train.optimizer.learning_rate = 1.2e-3
    return cfg
