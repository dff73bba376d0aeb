"""VGG-16 (with BatchNorm) on CIFAR-10, the protocol of Frankle et al. (ICML 2020).

Command:  lottery run configs/cifar10_vgg16.py
          (CIFAR-10 must be prepared once: tfds build cifar10 --file_format=array_record)
Runtime:  about 40 h on a 2-core CPU (62,400 steps at 2.3 s; benchmarks/config_runtimes.py);
          use an accelerator.
Expected: test accuracy about 0.935 (Frankle et al. 2020, dense VGG-16).
Protocol: CIFAR VGG-16 with BatchNorm and one linear classifier, SGD momentum 0.9,
          lr 0.1 decayed x0.1 at epochs 80 and 120, 160 epochs, batch 128, weight decay
          1e-4, random crop (4-pixel padding) and horizontal flip.
"""

from lottery.config import base


def get_config():
    """Returns the config: VGG-16-BN, CIFAR-10, SGD 0.1 momentum 0.9, 160 epochs."""
    cfg = base()
    cfg.name = "cifar10_vgg16"
    cfg.model.name = "vgg16"
    cfg.data.name = "cifar10"
    cfg.train.batch_size = 128
    cfg.train.duration = "160ep"
    cfg.train.eval_every = 5
    cfg.train.optimizer.name = "sgd"
    cfg.train.optimizer.learning_rate = 0.1
    cfg.train.optimizer.momentum = 0.9
    cfg.train.optimizer.weight_decay = 1e-4
    cfg.train.schedule.name = "step"
    cfg.train.schedule.milestones = ("80ep", "120ep")
    cfg.train.schedule.gamma = 0.1
    return cfg
