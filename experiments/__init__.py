"""Training: data, the LightningModule, profiles and the run command. See ``python -m experiments.run --help``."""
