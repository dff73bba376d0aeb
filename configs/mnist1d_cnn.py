"""1-D CNN on MNIST-1D (Greydanus & Kobak 2024).

Command:  lottery run configs/mnist1d_cnn.py
Runtime:  about 15 s on a 2-core laptop CPU.
Expected: test accuracy about 0.94 (the MNIST-1D paper reports 94% for its CNN).
Protocol: three strided convs (5, 3, 3 wide, 32 channels) and a linear classifier,
          Adam lr 1e-2, batch 100, 6000 steps, as in the mnist1d package's defaults.
"""

from lottery.config import base


def get_config():
    """Returns the config: cnn1d (32 channels) on MNIST-1D, Adam 1e-2, 6000 steps."""
    cfg = base()
    cfg.name = "mnist1d_cnn"
    cfg.model.name = "cnn1d"
    cfg.model.channels = 32
    cfg.data.name = "mnist1d"
    cfg.train.batch_size = 100
    cfg.train.duration = "6000it"
    cfg.train.eval_every = 10
    cfg.train.optimizer.name = "adam"
    cfg.train.optimizer.learning_rate = 1e-2
    return cfg
