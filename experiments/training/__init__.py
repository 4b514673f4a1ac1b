"""Training one run: the heavy side, PyTorch and Lightning.

:mod:`~experiments.training.train` (the Trainer as the suite configures it, resume, the result record),
:mod:`~experiments.training.module` (the LightningModule), :mod:`~experiments.training.schedule` (the
learning-rate schedule against iterations), :mod:`~experiments.training.step` (one training step's device
work, optionally a CUDA graph), :mod:`~experiments.training.batches` and
:mod:`~experiments.training.datamodule` (batches on the device, the ImageNet folder),
:mod:`~experiments.training.checkpoint` (the atomic checkpoint and its format mark),
:mod:`~experiments.training.callbacks`, :mod:`~experiments.training.csvlog` (metrics.csv),
:mod:`~experiments.training.gradients` (gradient norms by layer), :mod:`~experiments.training.faults` (the
tests' fault injection), :mod:`~experiments.training.provenance`.

Imported only by a process that trains or measures a net (``experiments.run`` after its checks,
``experiments.responses``, the bench): never by the light layers (tests/test_layers.py).
"""
