"""Errors that the CLI turns into a message and exit code 2 (bad input, not a bug).

The convention: a library function given a bad argument raises ``ValueError`` naming the argument and what would
be valid (``models``, ``profiler.counting``); code that checks what a *user* gave (a config file, a run path, a
device, a baseline) raises ``UsageError``. ``UsageError`` is a ``ValueError``, so a library caller catches both
with one ``except ValueError``; ``profiler.cli.main`` prints a ``UsageError`` as one ``error:`` line and exits 2,
and a command that passes user input to a ValueError-raising library function re-raises it as a ``UsageError``.
"""


class UsageError(ValueError):
    """Bad input from the user: unknown model, bad config key, unavailable device, missing baseline…"""
