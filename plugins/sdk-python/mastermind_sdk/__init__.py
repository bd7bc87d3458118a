"""Write a Mastermind participant in one small Python file.

A participant is a WebAssembly component that Mastermind calls for each
workflow step; componentize-py builds it from a module that defines
`WitWorld`. This package hides the WIT bindings behind the names of the
Rust SDK (mastermind-sdk)::

    from mastermind_sdk import Action, BadInput, Description, Kind, Participant, export, log

    class Greeter(Participant):
        def describe(self):
            return Description("greeter", "Says hello").action(
                Action("greet", "Puts a greeting into the fields").required("name", Kind.STRING, "who to greet"))

        def invoke(self, call):
            name = call.param("name", str)
            log.info(f"greeting {name}")
            return {"greeting": f"hello, {name}"}

    WitWorld = export(Greeter)

Before `invoke` runs, the call is checked against the description: an
unknown action, a missing required param or a param of the wrong JSON type
fails the step with one `bad-input` error listing every problem. The same
code runs natively under `python3 -m unittest`: `mastermind_sdk.testing`
calls a participant as the host would, with stubbed capabilities.
"""

import json
import re
from dataclasses import dataclass, field
from enum import Enum

from . import _host, chef, ec2, http, log, ssh
from .errors import BadInput, Denied, Error, Fatal, Retryable

__all__ = [
    "Action", "BadInput", "Call", "Context", "Denied", "Description", "Error", "Fatal", "Kind", "Participant",
    "Retryable", "chef", "ec2", "export", "http", "keep", "log", "parse_duration", "progress", "sleep", "ssh",
]


class Kind(str, Enum):
    """The JSON type a param must have (an integer is also a number)."""

    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    ARRAY = "array"
    OBJECT = "object"
    ANY = "any"

    def accepts(self, value) -> bool:
        if self is Kind.ANY:
            return True
        return _json_kind(value) in _ACCEPTS[self]

    @property
    def article(self) -> str:
        return "any value" if self is Kind.ANY else ("an " if self.value[0] in "aeiou" else "a ") + self.value


# The JSON kinds of Python values, as json.loads makes them: bool is an int
# in Python but a boolean in JSON, and 2.0 is a float, not an integer.
_ACCEPTS = {
    Kind.STRING: {"string"},
    Kind.INTEGER: {"integer"},
    Kind.NUMBER: {"integer", "float"},
    Kind.BOOLEAN: {"boolean"},
    Kind.ARRAY: {"array"},
    Kind.OBJECT: {"object"},
}
_PYTHON_KINDS = {str: Kind.STRING, int: Kind.INTEGER, float: Kind.NUMBER, bool: Kind.BOOLEAN, list: Kind.ARRAY,
                 dict: Kind.OBJECT, None: Kind.ANY}


def _json_kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _json_type(value) -> str:
    kind = _json_kind(value)
    return kind if kind == "null" else ("an " if kind[0] in "aeiou" else "a ") + kind


@dataclass
class Param:
    name: str
    kind: Kind
    required: bool
    doc: str


class Action:
    """One action: its name, what it does, and its params, built in a chain."""

    def __init__(self, name: str, doc: str):
        self.name, self.doc, self.params = name, doc, []

    def required(self, name: str, kind: Kind, doc: str) -> "Action":
        self.params.append(Param(name, Kind(kind), True, doc))
        return self

    def optional(self, name: str, kind: Kind, doc: str) -> "Action":
        self.params.append(Param(name, Kind(kind), False, doc))
        return self

    def any_params(self, doc: str) -> "Action":
        """The action also takes params it does not list (the host's
        definition check otherwise refuses an unknown param as a typo)."""
        return self.optional("*", Kind.ANY, doc)

    def check(self, params: dict) -> list:
        """Every problem with `params` for this action, one line each, worded
        as the Rust SDK words them."""
        problems = []
        missing = [p.name for p in self.params if p.required and params.get(p.name) is None]
        if missing:
            problems.append("missing required param(s): " + ", ".join(missing))
        for p in self.params:
            value = params.get(p.name)
            if value is not None and not p.kind.accepts(value):
                problems.append(f"param '{p.name}' must be {p.kind.article}, got {_json_type(value)}")
        return problems


class Description:
    """A participant's name, version, doc and actions."""

    def __init__(self, name: str, doc: str, version: str = "0.1.0"):
        self.name, self.doc, self.version = name, doc, version
        self.actions, self.default_action = [], None

    def action(self, action: Action) -> "Description":
        self.actions.append(action)
        return self

    def default(self, name: str) -> "Description":
        """The action a bare step calls; the first action when not set."""
        self.default_action = name
        return self

    def find(self, name: str):
        return next((a for a in self.actions if a.name == name), None)


@dataclass
class Context:
    """Where a call comes from (see `context` in the WIT contract)."""

    job_id: str = "test-job"
    step_id: str = "0"
    attempt: int = 1
    # Stable across retries of this step: pass it to remote APIs that deduplicate.
    idempotency_key: str = "mm-test"
    tenant: str = "test"
    settings: dict = field(default_factory=dict)

    def setting(self, name: str, default=None):
        """A non-secret setting the operator configured for this participant."""
        return self.settings.get(name, default)


class Call:
    """One invocation: the action, its params, the job's fields and context."""

    def __init__(self, action: str, params: dict, fields: dict, context: Context):
        self.action, self.params, self.fields, self.context = action, params, fields, context

    def param(self, name: str, kind=None):
        """A required param, checked to be of `kind` (str, int, float, bool,
        list, dict or a Kind); a `BadInput` error when missing or mistyped."""
        value = self.params.get(name)
        if value is None:
            raise BadInput(f"missing required param '{name}'")
        return _checked(name, value, kind)

    def optional(self, name: str, kind=None, default=None):
        """A param that may be absent (or null): then `default`."""
        value = self.params.get(name)
        return default if value is None else _checked(name, value, kind)

    def duration(self, name: str, default=None):
        """A duration param in seconds (a float): `30`, `'90s'`, `'5m'`, `'1h30m'`."""
        value = self.params.get(name)
        if value is None:
            if default is None:
                raise BadInput(f"missing required param '{name}'")
            return default
        try:
            return parse_duration(value)
        except ValueError as e:
            raise BadInput(f"param '{name}': {e}") from None


def _checked(name: str, value, kind):
    kind = _PYTHON_KINDS[kind] if kind in _PYTHON_KINDS else Kind(kind)
    if not kind.accepts(value):
        raise BadInput(f"param '{name}' must be {kind.article}, got {_json_type(value)}")
    return float(value) if kind is Kind.NUMBER else value


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value) -> float:
    """Seconds from a number or text such as `500ms`, `90s`, `5m`, `1h30m`,
    `2d` (the language's spelling for `timeout:`); `ValueError` says what
    was expected."""
    expected = "expected seconds (e.g. 30) or a duration such as '90s', '5m', '1h30m'"
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(expected)
    text = str(value).strip()
    try:
        seconds = float(text)
    except ValueError:
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", text)
        if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", "", text).strip():
            raise ValueError(f"'{value}': {expected}") from None
        seconds = sum(float(n) * _UNITS[u] for n, u in parts)
    if not 0 <= seconds < 1e9:
        raise ValueError(expected)
    if seconds == 0:
        raise ValueError("must be more than zero")
    return seconds


class Participant:
    """What a participant implements: `describe` and `invoke`. A new
    instance serves each call, as each call runs in a fresh sandbox."""

    def describe(self) -> Description:
        raise NotImplementedError

    def invoke(self, call: Call) -> dict:
        """Runs one action; returns the field updates to merge into the job
        (`None` removes a field)."""
        raise NotImplementedError


def run(participant, call: Call) -> dict:
    """Checks the call against the participant's description, then invokes
    it: what the host's call and the tests' both go through."""
    instance = participant()
    description = instance.describe()
    spec = description.find(call.action)
    if spec is None:
        known = ", ".join(a.name for a in description.actions)
        raise BadInput(f"participant '{description.name}' has no action '{call.action}' (known: {known})")
    problems = spec.check(call.params)
    if problems:
        raise BadInput(f"{call.action}: " + "; ".join(problems))
    updates = instance.invoke(call)
    if updates is None:
        return {}
    if not isinstance(updates, dict):
        raise TypeError(f"invoke must return a dict of field updates, not {type(updates).__name__}")
    json.dumps(updates)  # what cannot become JSON fails here, in tests too
    return updates


def export(participant):
    """The component's entry points for `participant` (a Participant
    subclass): assign them to `WitWorld`, the name componentize-py looks
    for. Natively (in tests) there is nothing to export: it returns the
    participant unchanged."""
    return _host.export(participant, run, Call, Context) if _host.IN_COMPONENT else participant


def progress(message: str, percent=None):
    """What is happening now and, if known, how far along (0-100)."""
    log.progress(message, percent)


def sleep(seconds: float):
    """Sleeps without holding a host thread; cut short by the call's
    deadline. Under `testing` it returns at once and the time is added up."""
    _host.sleep(max(0, int(seconds * 1000)))


def keep(fields: dict):
    """Keeps `fields` in the job's workitem even if this call then fails:
    call it as soon as something exists that an error handler must clean up
    (an instance just launched), since a crash or a deadline ends the call
    before any error is raised. `Error(..., fields=...)` does the same for
    the error an action raises."""
    _host.keep(json.dumps(fields))
