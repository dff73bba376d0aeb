"""Small configs shared by the test modules: an MLP 40-32-16-10 on 1000 MNIST-1D
examples that trains in a second or two."""

from __future__ import annotations

from lottery import config


def tiny_mlp(name: str, kind: str) -> config.ml_collections.ConfigDict:
    """Returns the shared small config (2 replicates, batch 50, Adam 3e-3), named
    ``name``, of ``kind``; each test module sets its own duration and blocks."""
    cfg = config.base()
    cfg.name = name
    cfg.kind = kind
    cfg.replicates = 2
    cfg.model.name = "mlp"
    cfg.model.widths = (32, 16)
    cfg.data.name = "mnist1d"
    cfg.data.num_samples = 1000
    cfg.train.batch_size = 50
    cfg.train.optimizer.learning_rate = 3e-3
    return cfg


def with_fields(cfg: config.ml_collections.ConfigDict, fields: dict):
    """Returns ``cfg`` with each ``a__b=value`` of ``fields`` set as ``a.b``
    (through ``config.override``, as the command line would)."""
    for dotted, value in fields.items():
        config.override(cfg, dotted.replace("__", "."), repr(value))
    return cfg
