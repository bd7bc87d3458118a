"""Commands over SSH through the host, which holds the keys
(`secret=NAME`) and checks host keys (pinned, or trusted on first use);
each target must be granted (`ssh=USER@HOST[:PORT]`).

    for result in ssh.Exec("uptime", "ssh_key").target("10.0.0.5", 22, "deploy").run():
        log.info(result.stdout)       # or an Error, when that target failed
"""

from dataclasses import dataclass

from . import _host


@dataclass
class Target:
    host: str
    port: int
    user: str


@dataclass
class Output:
    """What a command did on one target (`exit_status` is None when a
    signal killed it)."""

    stdout: str
    stderr: str = ""
    exit_status: int = 0
    exit_signal: str = None
    duration_ms: int = 0


class Exec:
    """One command for one or many targets, built in a chain then run."""

    def __init__(self, command: str, key_secret: str):
        self.command, self.key_secret = command, key_secret
        self.targets, self.stdin_text, self.timeout_ms, self.concurrency_limit, self.host_keys = [], None, None, 0, []

    def target(self, host: str, port: int = 22, user: str = "root") -> "Exec":
        self.targets.append(Target(host, port, user))
        return self

    def stdin(self, text: str) -> "Exec":
        self.stdin_text = text
        return self

    def timeout(self, seconds: float) -> "Exec":
        """Per target; defaults to, and is capped by, the call's deadline."""
        self.timeout_ms = int(seconds * 1000)
        return self

    def concurrency(self, n: int) -> "Exec":
        """At most `n` targets at once (0: all)."""
        self.concurrency_limit = n
        return self

    def host_key(self, host: str, fingerprint: str) -> "Exec":
        """Pins `host` (or `host:port`) to a `SHA256:...` fingerprint."""
        self.host_keys.append((host, fingerprint))
        return self

    def run(self) -> list:
        """One result per target, in order: an `Output`, or the `Error` of
        that target. Raises only when the request is refused as a whole."""
        return _host.ssh_exec(self)
