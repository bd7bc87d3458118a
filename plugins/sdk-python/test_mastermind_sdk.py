"""The Python SDK natively, as a participant's tests use it: the checks of a
call against its description, the errors' kinds, and each capability's
wrapper through a stub. Run from plugins/sdk-python: `python3 -m unittest`
(tests/participant_new.rs does)."""

import io
import json
import re
import sys
import textwrap
import types
import unittest
from pathlib import Path

from mastermind_sdk import (
    Action, BadInput, Denied, Description, Error, Fatal, Kind, Participant, Retryable, chef, ec2, export, http,
    keep, log, parse_duration, progress, sleep, ssh, testing,
)


class Probe(Participant):
    """Runs whatever the test put in `Probe.body`, after the SDK's checks."""

    body = None

    def describe(self):
        return Description("probe", "Probes the SDK").action(
            Action("typed", "typed params")
            .required("name", Kind.STRING, "a string")
            .optional("count", Kind.INTEGER, "an integer")
            .optional("ratio", Kind.NUMBER, "a number")
            .optional("wait", Kind.ANY, "a duration")
        ).action(Action("any", "anything").any_params("whatever"))

    def invoke(self, call):
        return Probe.body(call)


def running(body, stub=None, **params):
    Probe.body = staticmethod(body)
    return testing.TestHost(stub=stub, settings={"REGION": "eu-west-1"}).invoke(Probe, "any", params)


class Checks(unittest.TestCase):
    def test_a_call_is_checked_against_the_description_before_invoke(self):
        Probe.body = staticmethod(lambda call: {"ran": True})
        with self.assertRaises(BadInput) as e:
            testing.invoke(Probe, "typed", {"count": 1.5, "ratio": "x"})
        self.assertEqual(e.exception.message, "typed: missing required param(s): name; param 'count' must be an "
                                              "integer, got a float; param 'ratio' must be a number, got a string")
        with self.assertRaisesRegex(BadInput, r"participant 'probe' has no action 'nope' \(known: typed, any\)"):
            testing.invoke(Probe, "nope")
        self.assertEqual(testing.invoke(Probe, "typed", {"name": "x", "count": 2, "ratio": 2}), {"ran": True})

    def test_params_are_typed_with_defaults(self):
        def body(call):
            return {"name": call.param("name", str), "count": call.optional("count", int, 7),
                    "ratio": call.optional("ratio", float), "wait": call.duration("wait", 5),
                    "region": call.context.setting("REGION")}

        Probe.body = staticmethod(body)
        run = testing.TestHost(settings={"REGION": "eu-west-1"}).invoke(Probe, "typed", {"name": "a", "ratio": 2})
        self.assertEqual(run.result(), {"name": "a", "count": 7, "ratio": 2.0, "wait": 5, "region": "eu-west-1"})
        run = testing.TestHost().invoke(Probe, "typed", {"name": "a", "wait": "1m30s"})
        self.assertEqual(run.result()["wait"], 90)
        run = running(lambda call: call.param("flag", bool), flag=1)
        self.assertEqual(str(run.error), "bad-input: param 'flag' must be a boolean, got an integer")
        self.assertEqual(parse_duration("500ms"), 0.5)
        with self.assertRaisesRegex(ValueError, "expected seconds"):
            parse_duration("soon")

    def test_errors_have_kinds_and_keep_fields(self):
        for kind, error in [("retryable", Retryable), ("fatal", Fatal), ("bad-input", BadInput), ("denied", Denied)]:
            self.assertIs(type(Error.of(kind, "m")), error)
            self.assertEqual(str(error("m")), f"{kind}: m")

        def body(call):
            keep({"instance_id": "i-1"})
            raise Retryable("not running yet", fields={"state": "pending"})

        run = running(body)
        self.assertIsInstance(run.error, Retryable)
        self.assertEqual(run.kept, {"instance_id": "i-1", "state": "pending"})

    def test_logs_progress_and_sleep_are_recorded(self):
        def body(call):
            log.info("one")
            log.warn("two")
            progress("copying", 40)
            sleep(2.5)
            return {}

        run = running(body)
        self.assertEqual(run.logs, [("info", "one"), ("warn", "two")])
        self.assertEqual(run.progress, [("copying", 40)])
        self.assertEqual(run.slept, 2.5)
        self.assertTrue(run.logged("tw"))

    def test_natively_export_returns_the_participant(self):
        self.assertIs(export(Probe), Probe)


class Capabilities(unittest.TestCase):
    def test_an_unstubbed_capability_is_denied(self):
        run = running(lambda call: http.Request.get("https://example.com/").send())
        self.assertIsInstance(run.error, Denied)
        self.assertIn("http is not available in unit tests", run.error.message)

    def test_http(self):
        class Stub:
            def http(self, request):
                self.request = request
                return http.Response(503 if request.method == "PUT" else 200, '{"up": true}', [("X-Id", "7")])

        stub = Stub()

        def body(call):
            r = http.Request.post("https://hooks.example.com/x?k={secret:key}").bearer_secret("token") \
                .basic_auth_secret_password("me", "pw").url_secret("key").header("Idempotency-Key", "k1") \
                .json({"a": 1}).timeout(10).send().error_for_status("posting")
            return {"body": r.json(), "id": r.header("x-id")}

        self.assertEqual(running(body, stub).result(), {"body": {"up": True}, "id": "7"})
        request = stub.request
        self.assertEqual((request.method, request.timeout_ms, json.loads(request.body)), ("POST", 10000, {"a": 1}))
        self.assertEqual(request.header_value("content-type"), "application/json")
        self.assertEqual(request.secret_names(), ["token", "pw", "key"])
        run = running(lambda call: http.Request("put", "https://x/").send().error_for_status("putting"), stub)
        self.assertEqual(str(run.error), 'retryable: putting: HTTP 503: {"up": true}')

    def test_ssh(self):
        class Stub:
            def ssh(self, request):
                assert request.key_secret == "ssh_key" and request.stdin_text == "in"
                return [ssh.Output("up 3 days"), Denied("ssh to 10.0.0.6 is not granted")]

        def body(call):
            results = ssh.Exec("uptime", "ssh_key").target("10.0.0.5", 22, "deploy").target("10.0.0.6") \
                .stdin("in").concurrency(1).run()
            return {"out": results[0].stdout, "second": str(results[1])}

        self.assertEqual(running(body, Stub()).result(),
                         {"out": "up 3 days", "second": "denied: ssh to 10.0.0.6 is not granted"})

    def test_ec2(self):
        class Stub:
            def ec2_run_instances(self, credentials, request):
                assert credentials == "aws" and request["tags"] == [{"key": "Name", "value": "web"}]
                return [{"instance_id": "i-1", "state": "pending"}] * request["count"]

            def ec2_change_state(self, credentials, region, ids, action):
                return [{"instance_id": ids[0], "previous_state": "running", "current_state": action + "ping"}]

        def body(call):
            launched = ec2.run_instances("aws", "us-west-2", "ami-1", "t3.micro", count=2, tags={"Name": "web"})
            changed = ec2.change_state("aws", "us-west-2", ["i-1"], "stop")
            return {"launched": len(launched), "now": changed[0]["current_state"]}

        self.assertEqual(running(body, Stub()).result(), {"launched": 2, "now": "stopping"})

    def test_chef(self):
        class Stub:
            def chef(self, request):
                if request.path == "/nodes":
                    return chef.Response(200, '{"web1": "url"}')
                return chef.Response(401, '{"error": ["bad key"]}')

        server = chef.Server("https://chef.example.com/organizations/acme/", "mastermind", "chef_key")
        self.assertEqual(running(lambda call: {"nodes": server.get("/nodes")}, Stub()).result(), {"nodes": {"web1": "url"}})
        run = running(lambda call: server.delete("/nodes/web1"), Stub())
        self.assertIsInstance(run.error, Fatal)
        self.assertIn("HTTP 401, not authenticated): bad key. Check that client 'mastermind'", run.error.message)


class Documentation(unittest.TestCase):
    """docs/authoring.md's Python examples run as they are written: the
    participant, its test, and the capabilities' calls (against a stub)."""

    def blocks(self):
        doc = (Path(__file__).parent.parent.parent / "docs" / "authoring.md").read_text()
        return re.findall(r"```python\n(.*?)```", doc, re.S)

    def test_the_participant_and_its_test(self):
        participant, test, _ = self.blocks()
        app = types.ModuleType("app")
        exec(participant, app.__dict__)
        sys.modules["app"] = app
        try:
            scope = {}
            exec(test, scope)
            cases = unittest.defaultTestLoader.loadTestsFromTestCase(scope["DiskCheckTest"])
            result = unittest.TextTestRunner(stream=io.StringIO()).run(cases)
        finally:
            del sys.modules["app"]
        self.assertEqual(result.testsRun, 1)
        self.assertTrue(result.wasSuccessful(), result.failures + result.errors)

    def test_the_capabilities(self):
        *_, calls = self.blocks()

        class Stub:
            def http(self, request):
                return http.Response(200, '{"ok": 1}')

            def ssh(self, request):
                return [ssh.Output("up")]

            def ec2_describe_instances(self, *args):
                return [{"instance_id": "i-0abc"}]

            def ec2_change_state(self, *args):
                return []

            def ec2_run_instances(self, credentials, request):
                return [{"instance_id": "i-1"}]

            def chef(self, request):
                return chef.Response(200, '{"web1": "url"}')

        source = "def invoke(self, call):\n    host, key = 'web1', 'k'\n" + textwrap.indent(calls, "    ") \
            + "    return {'body': body, 'found': found, 'nodes': nodes}\n"
        scope = dict(globals())
        exec(source, scope)
        Probe.body = None
        probe = type("DocProbe", (Probe,), {"invoke": scope["invoke"]})
        run = testing.TestHost(stub=Stub()).invoke(probe, "any")
        self.assertEqual(run.result(), {"body": {"ok": 1}, "found": [{"instance_id": "i-0abc"}], "nodes": {"web1": "url"}})
        self.assertEqual(run.logs, [("info", "resizing the volume"), ("info", "up")])
        self.assertEqual((run.progress, run.kept, run.slept), ([("copying", 40)], {"instance_id": "i-0abc"}, 5))


if __name__ == "__main__":
    unittest.main()
