"""Structured versus unstructured tickets for ResNet-20 on CIFAR-10 (Chen et al. 2022).

Command:  lottery run configs/cifar10_resnet20_structured.py
          (CIFAR-10 must be prepared once: tfds build cifar10 --file_format=array_record)
Runtime:  3 variants x 10 levels x (ticket + reinit) of 160 epochs: roughly 50 trainings
          of 15 h each on a 2-core CPU (benchmarks/config_runtimes.py); use an accelerator.
Expected: Chen et al. (2022, "Coarsening the Granularity") find channel-wise tickets
          match the dense network only at low sparsity, while IMP-Refill keeps more of
          unstructured IMP's accuracy; the compacted channel tickets run measurably
          faster (benchmarks/compaction_speed.py: 50% of the channels, 2x on CPU).
Protocol: the dense recipe of configs/cifar10_resnet20.py (SGD 0.1, momentum 0.9,
          decay x0.1 at epochs 80 and 120, 160 epochs, batch 128, weight decay 1e-4,
          crop + flip); 20% of the prunable weights (all conv kernels; the classifier
          excluded) removed per level, rewinding to epoch 2 (Frankle et al. 2020; Chen
          et al. rewind early in training), channel IMP ranking channels by BatchNorm
          |gamma| (network slimming, Liu et al. 2017), the reinit control, 2 replicates,
          10 levels (density 100% down to 13.4%).
"""

from lottery.config import base


def get_config():
    """Returns the ResNet-20 / CIFAR-10 comparison of channel IMP, IMP-Refill and IMP."""
    cfg = base()
    cfg.name = "cifar10_resnet20_structured"
    cfg.kind = "structured"
    cfg.replicates = 2
    cfg.model.name = "resnet20"
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
    cfg.imp.levels = 10
    cfg.imp.fraction = 0.2
    cfg.imp.scope = "global"
    cfg.imp.exclude = ("out",)
    cfg.imp.rewind = "2ep"
    cfg.imp.controls = ("reinit",)
    cfg.imp.group_score = "bn_gamma"
    cfg.structured.variants = ("weights", "channels", "refill")
    return cfg
