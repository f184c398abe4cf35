"""Errors that the CLI turns into a message and exit code 2 (bad input, not a bug)."""


class UsageError(Exception):
    """Bad input from the user: unknown model, bad config key, unavailable device, missing baseline…"""
