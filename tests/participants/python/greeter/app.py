"""A Mastermind participant in Python, on the SDK (plugins/sdk-python): an
action with typed params, a log line, an error with a kind; another that
uses the http capability with a secret.

tests/polyglot.rs builds it with componentize-py, the SDK on the path:

    componentize-py -d wit -w participant componentize -p tests/participants/python/greeter \\
        -p plugins/sdk-python app -o greeter.wasm
"""

from mastermind_sdk import Action, BadInput, Description, Kind, Participant, export, http, keep, log, sleep


class Greeter(Participant):
    def describe(self):
        return Description("py_greeter", "Greets someone, from Python").action(
            Action("greet", "Sets `greeting` to a greeting for `name`")
            .required("name", Kind.STRING, "who to greet (not blank)")
            .optional("times", Kind.INTEGER, "how many times, 1 to 5 (default 1)")
            .optional("sleep_ms", Kind.INTEGER, "sleep this long first (host/benches/polyglot.rs)")
        ).action(
            Action("notify", "POSTs a greeting for `name` to `url`, with the secret `token`")
            .required("url", Kind.STRING, "where to")
            .required("name", Kind.STRING, "who to greet")
        )

    def invoke(self, call):
        if call.action == "notify":
            url = call.param("url", str)
            keep({"notified": url})
            response = (http.Request.post(url).bearer_secret("token").header("X-Greeter", "python")
                        .json({"greeting": f"Hello, {call.param('name', str)}!"}).timeout(5).send()
                        .error_for_status("notifying"))
            return {"status": response.status, "echo": response.text()}
        # The SDK checked the params' types against the description.
        name = call.param("name", str).strip()
        times = call.optional("times", int, 1)
        if not name:
            raise BadInput("name must not be blank")
        if not 1 <= times <= 5:
            raise BadInput(f"times must be 1 to 5, not {times}")
        sleep_ms = call.optional("sleep_ms", int, 0)
        if sleep_ms > 0:
            sleep(sleep_ms / 1000)
        log.info(f"greeting {name} for job {call.context.job_id}")
        return {"greeting": " ".join([f"Hello, {name}!"] * times), "greeted_by": "python"}


WitWorld = export(Greeter)
