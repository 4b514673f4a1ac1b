"""How fast the suite trains and what each part of its training path costs (``make bench``, BENCHMARKS.md).

Not part of the installed package: run from the repository's root, ``python -m bench``. Modules by what
they measure: :mod:`bench.speed` (items 1, 2, 3, 6: the Lightning path against a plain loop, the input
pipeline against one batch, against the classic CIFAR script; the gradient-norm recorder; compile
variants), :mod:`bench.per_model` (item 4: speed and memory per model), :mod:`bench.matrix` (item 5: a
timed ``make degradation``); :mod:`bench.paths` (the three ways to train), :mod:`bench.measure` (timing,
memory), :mod:`bench.table` (the output), :mod:`bench.run` (the command line).
"""
