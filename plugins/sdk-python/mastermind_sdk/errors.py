"""Errors with kinds: the kind tells the engine what it may do next, and
`on_error` handlers in a definition can tell them apart."""


class Error(Exception):
    """A failed call: a kind, one line for the operator, and the field
    updates to keep in the job's workitem despite the failure (what the
    step already created, so an error handler can clean it up)."""

    kind = "fatal"

    def __init__(self, message: str, fields: dict = None):
        super().__init__(message)
        self.message = message
        self.fields = dict(fields) if fields else None

    def __str__(self):
        return f"{self.kind}: {self.message}"

    @staticmethod
    def of(kind: str, message: str) -> "Error":
        """The error of that kind (`retryable`, `fatal`, `denied`, `bad-input`)."""
        return _BY_KIND.get(kind, Fatal)(message)


class Retryable(Error):
    """Transient (a timeout, throttling, not ready yet): retrying the same
    step may succeed (`on_error: retry`)."""

    kind = "retryable"


class Fatal(Error):
    """Permanent: retrying will not help."""

    kind = "fatal"


class BadInput(Error):
    """The step's params are wrong."""

    kind = "bad-input"


class Denied(Error):
    """A capability was refused; the host raises it when a grant is missing."""

    kind = "denied"


_BY_KIND = {c.kind: c for c in (Retryable, Fatal, BadInput, Denied)}
