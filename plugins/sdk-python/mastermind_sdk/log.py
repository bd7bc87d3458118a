"""Log lines and progress reports, shown live to whoever watches the job.
Under `mastermind_sdk.testing` they are recorded for the test to check."""

from . import _host


def debug(message: str):
    _host.log("debug", message)


def info(message: str):
    _host.log("info", message)


def warn(message: str):
    _host.log("warn", message)


def error(message: str):
    _host.log("error", message)


def progress(message: str, percent=None):
    """What is happening now and, if known, how far along (0-100)."""
    _host.progress(message, None if percent is None else max(0, min(100, int(percent))))
