"""A Mastermind participant in Python: one action, a log line, a typed error.

Build it into a component with componentize-py against the contract:

    componentize-py -d wit -w participant componentize -p tests/participants/python/greeter app -o greeter.wasm

`invoke` gets its params as JSON text, as the step wrote them: it checks
them itself, and a wrong one is a `bad-input` error.
"""

import json

import wit_world
from componentize_py_types import Err
from wit_world.imports import log
from wit_world.imports.types import (
    ActionSpec,
    CallError,
    Description,
    ErrorKind,
    ParamKind,
    ParamSpec,
)


class WitWorld(wit_world.WitWorld):
    def describe(self) -> Description:
        return Description(
            name="py_greeter",
            version="0.1.0",
            doc="Greets someone, from Python",
            default_action="greet",
            actions=[
                ActionSpec(
                    name="greet",
                    doc="Sets `greeting` to a greeting for `name`",
                    params=[
                        ParamSpec("name", ParamKind.STRING, True, "who to greet (not blank)"),
                        ParamSpec("times", ParamKind.INTEGER, False, "how many times, 1 to 5 (default 1)"),
                    ],
                )
            ],
        )

    def invoke(self, action: str, params: str, fields: str, context) -> str:
        args = json.loads(params)
        name = args.get("name")
        times = args.get("times", 1)
        if not isinstance(name, str):
            raise Err(CallError(ErrorKind.BAD_INPUT, "name must be a string"))
        name = name.strip()
        if type(times) is not int:
            raise Err(CallError(ErrorKind.BAD_INPUT, "times must be an integer"))
        if not name:
            raise Err(CallError(ErrorKind.BAD_INPUT, "name must not be blank"))
        if not 1 <= times <= 5:
            raise Err(CallError(ErrorKind.BAD_INPUT, f"times must be 1 to 5, not {times}"))
        log.log(log.Level.INFO, f"greeting {name} for job {context.job_id}")
        greeting = " ".join([f"Hello, {name}!"] * times)
        return json.dumps({"greeting": greeting, "greeted_by": "python"})
