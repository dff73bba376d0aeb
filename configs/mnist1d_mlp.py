"""MLP on MNIST-1D (Greydanus & Kobak 2024): the built-in default experiment.

Command:  lottery run configs/mnist1d_mlp.py
Runtime:  about 10 s on a 2-core laptop CPU.
Expected: test accuracy about 0.65 (the MNIST-1D paper reports 68% for its MLP);
          100% train accuracy.
Protocol: MLP 40-100-100-10, Adam lr 1e-2, batch 100, 6000 steps (150 epochs of the
          canonical 4000/1000 split, seed 42), as in the mnist1d package's defaults.
"""

from lottery.config import base


def get_config():
    """Returns the config: MLP [100, 100] on MNIST-1D, Adam 1e-2, 6000 steps."""
    cfg = base()
    cfg.name = "mnist1d_mlp"
    cfg.model.name = "mlp"
    cfg.model.widths = (100, 100)
    cfg.data.name = "mnist1d"
    cfg.train.batch_size = 100
    cfg.train.duration = "6000it"
    cfg.train.eval_every = 10
    cfg.train.optimizer.name = "adam"
    cfg.train.optimizer.learning_rate = 1e-2
    return cfg
