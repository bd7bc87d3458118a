"""Every call into the host goes through here: inside a component to
componentize-py's bindings of the contract (`wit_world`), natively to the
test host of `mastermind_sdk.testing`, so a participant's own code is the
same in both and runs under `python3 -m unittest`. The rest of the SDK sees
plain Python values either way.
"""

import dataclasses
import json
import sys
import time

from .errors import Denied, Error

try:
    # A module of componentize-py's runtime, present only in a component
    # (at build time, when the app is pre-initialized, too). An editor's
    # `componentize-py bindings` output has `wit_world` but not this.
    import componentize_py_runtime  # noqa: F401

    IN_COMPONENT = True
except ImportError:
    IN_COMPONENT = False

# The test host of the call being run natively (`testing.TestHost`).
session = None


def _native(capability: str):
    if session is None:
        raise Denied(f"{capability} is only available in a component, or in a test through mastermind_sdk.testing")
    return session


if IN_COMPONENT:
    from componentize_py_types import Err
    from wit_world.imports import chef as _chef
    from wit_world.imports import ec2 as _ec2
    from wit_world.imports import http as _http
    from wit_world.imports import log as _log
    from wit_world.imports import outcome as _outcome
    from wit_world.imports import ssh as _ssh
    from wit_world.imports import timer as _timer
    from wit_world.imports import types as _types

    def _error(e: "Err") -> Error:
        return Error.of(e.value.kind.name.lower().replace("_", "-"), e.value.message)

    def _calling(function, *args):
        try:
            return function(*args)
        except Err as e:
            raise _error(e) from None

    def log(level, message):
        _log.log(_log.Level[level.upper()], message)

    def progress(message, percent):
        _log.progress(message, percent)

    def sleep(ms):
        _timer.sleep(ms)

    def keep(updates):
        _calling(_outcome.keep, updates)

    def http_send(request):
        from .http import Response

        def part(p):
            return _http.CredentialPart_Secret(p[1]) if p[0] == "secret" else _http.CredentialPart_Literal(p[1])

        secrets = []
        for use in request.secrets:
            if use[0] == "header":
                secrets.append(_http.SecretUse_Header(_http.SecretHeader(use[1], use[2], use[3])))
            elif use[0] == "basic":
                secrets.append(_http.SecretUse_BasicAuth((part(use[1]), part(use[2]))))
            else:
                secrets.append(_http.SecretUse_UrlPlaceholder(use[1]))
        headers = [_http.Header(k, v) for k, v in request.headers]
        wit = _http.Request(request.method, request.url, headers, secrets, request.body, request.timeout_ms)
        r = _calling(_http.send, wit)
        return Response(r.status, r.body, [(h.name, h.value) for h in r.headers])

    def ssh_exec(request):
        from .ssh import Output

        wit = _ssh.ExecRequest(
            [_ssh.Target(t.host, t.port, t.user) for t in request.targets], request.key_secret, request.command,
            request.stdin_text, request.timeout_ms, request.concurrency_limit, list(request.host_keys))
        results = []
        for result in _calling(_ssh.exec, wit):
            if isinstance(result, Err):
                results.append(_error(result))
            else:
                o = result.value
                results.append(Output(o.stdout, o.stderr, o.exit_status, o.exit_signal, o.duration_ms))
        return results

    def ec2(operation, credentials, *args):
        if operation == "run_instances":
            r = dict(args[0])
            r["tags"] = [_ec2.Tag(t["key"], t["value"]) for t in r["tags"]]
            found = _calling(_ec2.run_instances, credentials, _ec2.RunRequest(**r))
        elif operation == "describe_instances":
            region, ids, filters = args
            found = _calling(_ec2.describe_instances, credentials, region, ids, list(filters.items()))
        else:
            region, ids, action = args
            found = _calling(_ec2.change_state, credentials, region, ids, _ec2.StateAction[action.upper()])
        return [dataclasses.asdict(i) for i in found]

    def chef_send(request):
        from .chef import Response

        wit = _chef.Request(request.server_url, request.client_name, request.key_secret, request.method,
                            request.path, request.body)
        r = _calling(_chef.send, wit)
        return Response(r.status, r.body)

    def export(participant, run, call_type, context_type):
        import wit_world

        kinds = {"retryable": _types.ErrorKind.RETRYABLE, "fatal": _types.ErrorKind.FATAL,
                 "denied": _types.ErrorKind.DENIED, "bad-input": _types.ErrorKind.BAD_INPUT}

        class WitWorld(wit_world.WitWorld):
            def describe(self):
                d = participant().describe()
                default = d.default_action or (d.actions[0].name if d.actions else None)
                actions = [_types.ActionSpec(a.name, a.doc, [
                    _types.ParamSpec(p.name, _types.ParamKind[p.kind.name], p.required, p.doc) for p in a.params
                ]) for a in d.actions]
                return _types.Description(d.name, d.version, d.doc, default, actions)

            def invoke(self, action, params, fields, context):
                ctx = context_type(context.job_id, context.step_id, context.attempt, context.idempotency_key,
                                   context.tenant, dict(context.settings))
                try:
                    call = call_type(action, _object("params", params), _object("fields", fields), ctx)
                    return json.dumps(run(participant, call))
                except Error as e:
                    if e.fields:
                        try:
                            keep(json.dumps(e.fields))
                        except Error:
                            pass
                    raise Err(_types.CallError(kinds[e.kind], e.message)) from None

        return WitWorld

    def _object(what, text):
        from .errors import BadInput

        try:
            value = json.loads(text)
        except ValueError as e:
            raise BadInput(f"{what} is not valid JSON: {e}") from None
        if not isinstance(value, dict):
            raise BadInput(f"{what} must be a JSON object")
        return value

else:

    # Outside a test (a script trying a helper), log lines go to stderr
    # and sleep sleeps; only the capabilities need a test host.
    def log(level, message):
        if session is None:
            print(f"{level}: {message}", file=sys.stderr)
        else:
            session.logs.append((level, message))

    def progress(message, percent):
        if session is None:
            print(f"progress: {message}" + ("" if percent is None else f" ({percent}%)"), file=sys.stderr)
        else:
            session.progress.append((message, percent))

    def sleep(ms):
        if session is None:
            time.sleep(ms / 1000)
        else:
            session.slept += ms / 1000

    def keep(updates):
        _native("keep").kept.update(json.loads(updates))

    def http_send(request):
        return _native("http").answer("http", request)

    def ssh_exec(request):
        return _native("ssh").answer("ssh", request)

    def ec2(operation, credentials, *args):
        return _native("ec2").answer("ec2_" + operation, credentials, *args)

    def chef_send(request):
        return _native("chef").answer("chef", request)
