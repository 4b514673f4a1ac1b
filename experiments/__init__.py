"""Training the matrix: one process per run, a run folder each. The floor plan, by what a module may import:

==========================  ================================================================  ==========================
layer                       what it holds                                                     may import
==========================  ================================================================  ==========================
``experiments.config``,     the run configuration and profiles (``configs/*.yaml``), the      ``models.names``, PyYAML;
``experiments.errors``      matrices, ``ConfigError``                                         never torch
``experiments.launch``      where runs train: GPU slots, SLURM (srun options, the sbatch      config; never torch
                            array, ``array.sh``), CPU threads; ``python -m experiments.launch
                            check``
``experiments.data``        one small module per dataset (``DATASET``: find or fetch its      config, ``runfolder.io``;
                            files, load it); tensors and the split shared by the tensor       torch only inside the
                            datasets; ``python -m experiments.data prepare``                  functions making tensors
``experiments.training``    the heavy side: Trainer, LightningModule, schedule, step,         everything above, torch,
                            batches, data modules, checkpoint, callbacks, metrics.csv log,    Lightning
                            gradient norms, fault injection, provenance
``experiments.run``,        the commands make calls: train one run; the matrix as make sees   light at import; ``run``
``experiments.matrix``,     it (lists, input checks, the closing status); Fig. 7's layer      imports the training layer
``experiments.responses``   responses of a trained run                                        only after its checks
==========================  ================================================================  ==========================

Every layer reads and writes run folders through :mod:`runfolder`, the contract ``reports`` reads too
(torch-free); nets come from :mod:`models`. Nothing here imports ``reports`` or ``bench``.

The rules are kept by tests/test_layers.py: each light module (everything outside ``experiments.training``
and ``experiments.responses``), imported alone in a fresh interpreter, loads no torch or Lightning; no
import circle (imports inside functions count; type-only imports under ``if TYPE_CHECKING`` never run and
do not); no layer imports what the table above does not allow.

Where a change goes: a dataset is a new module in ``experiments/data/`` and one line in its ``DATASETS``; a
launcher option is ``experiments/launch/``; anything that needs torch is ``experiments/training/``; a new
file in a run folder is ``runfolder/files.py`` first.
"""
