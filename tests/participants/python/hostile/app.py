"""A hostile Python participant: the host must stop it, not be stopped by it.

`spin` never returns (the call's deadline ends it); `grow` keeps allocating
(the call's memory limit ends it). tests/polyglot.rs runs both.
"""

import wit_world
from wit_world.imports.types import ActionSpec, Description


class WitWorld(wit_world.WitWorld):
    def describe(self) -> Description:
        return Description(
            name="py_hostile",
            version="0.1.0",
            doc="Misbehaves, from Python",
            default_action=None,
            actions=[
                ActionSpec(name="spin", doc="Loops forever", params=[]),
                ActionSpec(name="grow", doc="Allocates 1 MiB after 1 MiB, forever", params=[]),
            ],
        )

    def invoke(self, action: str, params: str, fields: str, context) -> str:
        if action == "spin":
            n = 0
            while True:
                n += 1
        hoard = []
        while True:
            hoard.append(bytearray(1 << 20))
