"""The suite's one error for bad user input, shared by every layer of ``experiments`` (imports nothing)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

EXIT_BAD_INPUT = 2


class ConfigError(ValueError):
    """Bad user input: printed as one line, exit status 2, nothing written."""


def refusing_bad_input(main: Callable[..., int]) -> Callable[..., int]:
    """A command's ``main`` whose ConfigError becomes one ``error: ...`` line on stderr and exit status 2."""

    @functools.wraps(main)
    def wrapper(*args, **kwargs) -> int:
        try:
            return main(*args, **kwargs)
        except ConfigError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT

    return wrapper
