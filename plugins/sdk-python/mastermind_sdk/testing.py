"""Runs a participant natively, in an author's `python3 -m unittest`: no
Wasm, no host, the same checks as a real call (an unknown action, a missing
or mistyped param are `BadInput` before `invoke` runs).

    from mastermind_sdk import testing, http

    class StatusUp:                        # a stub answers only what it needs
        def http(self, request):
            assert request.url == "https://status.example.com/api"
            return http.Response(200, '{"status": "up"}')

    fields = testing.invoke(Status, "check", {"name": "web"})   # or raises the Error
    run = testing.TestHost(stub=StatusUp(), settings={"REGION": "eu-west-1"}).invoke(Status, "check", {})
    assert run.logged("up") and run.fields["status"] == "up"

A capability the stub does not answer fails with a `Denied` error saying it
is not available in unit tests. A stub's method gets what the SDK's call
built (`http.Request`, `ssh.Exec`, `chef.Request`; for EC2 the credentials
then the arguments: `ec2_run_instances(credentials, request_dict)`,
`ec2_describe_instances(credentials, region, ids, filters)`,
`ec2_change_state(credentials, region, ids, action)`) and returns what the
host would (`http.Response`; a list of `ssh.Output` or `Error`; a list of
dicts; `chef.Response`), or raises an `Error`.
"""

from . import Call, Context, Error, _host, run as _run
from .errors import Denied


def unavailable(capability: str) -> Error:
    """The error a capability a test did not stub answers with."""
    return Denied(f"{capability} is not available in unit tests: give the test a stub that answers it "
                  f"(mastermind_sdk.testing.TestHost(stub=...))")


class Run:
    """What one call returned and did."""

    def __init__(self):
        self.fields = None      # the field updates, when it succeeded
        self.error = None       # the Error, when it failed
        self.logs = []          # (level, message), in order
        self.progress = []      # (message, percent or None), in order
        self.kept = {}          # fields kept whatever happens (keep, Error(fields=...))
        self.slept = 0.0        # seconds slept in all (sleep returns at once here)
        self._stub = None

    def logged(self, text: str) -> bool:
        """Whether a log line contains `text`."""
        return any(text in message for _, message in self.logs)

    def result(self) -> dict:
        """The field updates, or raises the call's error."""
        if self.error is not None:
            raise self.error
        return self.fields

    def answer(self, method: str, *args):
        capability = method.split("_")[0]
        answer = getattr(self._stub, method, None)
        if answer is None:
            raise unavailable(capability)
        return answer(*args)


class TestHost:
    """Calls participants as the host would, with the capabilities of a stub
    (any object; see the module's doc) and a context of the test's choosing."""

    __test__ = False  # not a test case, for runners that collect Test* names

    def __init__(self, stub=None, settings=None, context=None):
        self.stub = stub
        self.context = context or Context()
        if settings:
            self.context.settings = {**self.context.settings, **settings}

    def invoke(self, participant, action: str, params=None, fields=None) -> Run:
        """Runs `action` with `params` and `fields` (dicts): checked against
        the description first, then invoked."""
        run = Run()
        run._stub = self.stub
        previous, _host.session = _host.session, run
        try:
            call = Call(action, dict(params or {}), dict(fields or {}), self.context)
            run.fields = _run(participant, call)
        except Error as e:
            run.error = e
            if e.fields:
                run.kept.update(e.fields)
        finally:
            _host.session = previous
        return run


def invoke(participant, action: str, params=None, fields=None) -> dict:
    """Runs `action` of `participant` with no capability granted: its field
    updates, or raises its `Error` (BadInput when the call does not match
    the description)."""
    return TestHost().invoke(participant, action, params, fields).result()
