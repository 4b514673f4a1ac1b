"""The suite's one error for bad user input, shared by every layer of ``experiments`` (imports nothing)."""


class ConfigError(ValueError):
    """Bad user input: printed as one line, exit status 2, nothing written."""
