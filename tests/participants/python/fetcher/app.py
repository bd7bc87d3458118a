"""A Python participant that speaks HTTP through wasi:http itself, as an
HTTP client library for WASI does: the host sends each request through the
same checks as the contract's http capability (grants, address policy, no
redirects, the call's deadline, redaction). A secret is named in the
request as `{secret:NAME}` and filled in by the host; it is never seen here.

Its world is the participant's with wasi:http's outgoing handler, whose
WIT ships with wasmtime-wasi-http (tests/polyglot.rs finds it through cargo
and writes the world):

    package mastermind:fetcher;
    world fetcher {
      include mastermind:participant/participant@0.1.0;
      import wasi:http/outgoing-handler@0.2.12;
    }

    componentize-py -d wit -d WASI_HTTP_WIT -d FETCHER_WIT -w mastermind:fetcher/fetcher \
        componentize -p tests/participants/python/fetcher app -o fetcher.wasm
"""

import json
from urllib.parse import urlsplit

import wit_world
from componentize_py_types import Err
from wit_world.imports import outgoing_handler
from wit_world.imports.mastermind_participant_types import (
    ActionSpec,
    CallError,
    Description,
    ErrorKind,
    ParamKind,
    ParamSpec,
)
from wit_world.imports.streams import StreamError_Closed
from wit_world.imports.wasi_http_types import (
    ErrorCode_HttpRequestDenied,
    Fields,
    Method_Get,
    OutgoingRequest,
    Scheme_Http,
    Scheme_Https,
)


class Refused(Exception):
    """The request failed with a wasi:http error code."""

    def __init__(self, code):
        super().__init__(code)
        self.code = code


def get(url: str, headers: list) -> tuple:
    """A blocking GET: the status and the body."""
    parts = urlsplit(url)
    request = OutgoingRequest(Fields.from_list(headers))
    request.set_method(Method_Get())
    request.set_scheme(Scheme_Https() if parts.scheme == "https" else Scheme_Http())
    request.set_authority(parts.netloc)
    request.set_path_with_query(parts.path + ("?" + parts.query if parts.query else ""))
    future = outgoing_handler.handle(request, None)
    future.subscribe().block()
    outcome = future.get()
    if isinstance(outcome, Err):
        raise OSError("the response was taken already")
    if isinstance(outcome.value, Err):
        raise Refused(outcome.value.value)
    response = outcome.value.value
    status = response.status()
    body = response.consume()
    stream = body.stream()
    chunks = []
    while True:
        try:
            chunks.append(stream.blocking_read(16384))
        except Err as e:
            if isinstance(e.value, StreamError_Closed):
                break
            raise
    return status, b"".join(chunks)


class WitWorld(wit_world.WitWorld):
    def describe(self) -> Description:
        return Description(
            name="py_fetcher",
            version="0.1.0",
            doc="Fetches a URL through wasi:http, from Python",
            default_action="get",
            actions=[
                ActionSpec(
                    name="get",
                    doc="Sets `status` and `body` from a GET of `url`",
                    params=[
                        ParamSpec("url", ParamKind.STRING, True, "what to fetch"),
                        ParamSpec("token_secret", ParamKind.STRING, False, "a secret sent as a bearer token"),
                    ],
                )
            ],
        )

    def invoke(self, action: str, params: str, fields: str, context) -> str:
        args = json.loads(params)
        headers = []
        if args.get("token_secret"):
            headers.append(("authorization", ("Bearer {secret:%s}" % args["token_secret"]).encode()))
        try:
            status, body = get(args["url"], headers)
        except Err as e:  # `handle` itself refused the request
            raise Err(CallError(ErrorKind.FATAL, "fetch failed: %r" % (e.value,)))
        except Refused as e:
            denied = isinstance(e.code, ErrorCode_HttpRequestDenied)
            raise Err(CallError(ErrorKind.FATAL, "fetch failed%s: %r" % (" (denied)" if denied else "", e.code)))
        return json.dumps({"status": status, "body": body.decode("utf-8", "replace")})
