"""Outbound HTTP through the host, which checks the URL against the
participant's grants (`http=HOST[:PORT]`), splices in secrets and redacts
their values from the response. Redirects are not followed.

    response = http.Request.post("https://hooks.example.com/deploys").bearer_secret("hook_token") \\
        .json({"host": host}).send().error_for_status("posting the deploy")
"""

import json as _json

from . import _host
from .errors import Fatal, Retryable


class Request:
    """An HTTP request, built in a chain then sent. Secrets are named, never
    read: `secrets` holds ("header", name, prefix, secret),
    ("basic", user, password) with each part ("literal"|"secret", text), or
    ("url", secret)."""

    def __init__(self, method: str, url: str):
        self.method, self.url = method.upper(), url
        self.headers, self.secrets, self.body, self.timeout_ms = [], [], None, None

    @classmethod
    def get(cls, url: str) -> "Request":
        return cls("GET", url)

    @classmethod
    def post(cls, url: str) -> "Request":
        return cls("POST", url)

    def header(self, name: str, value: str) -> "Request":
        self.headers.append((name, value))
        return self

    def bearer_secret(self, secret: str) -> "Request":
        """`Authorization: Bearer <value of secret>`."""
        return self.secret_header("Authorization", "Bearer ", secret)

    def secret_header(self, name: str, prefix: str, secret: str) -> "Request":
        """Header `name` set to `prefix` + the value of `secret`."""
        self.secrets.append(("header", name, prefix, secret))
        return self

    def basic_auth_secret_user(self, secret: str, password: str) -> "Request":
        """HTTP Basic with the secret as user name and a literal password."""
        self.secrets.append(("basic", ("secret", secret), ("literal", password)))
        return self

    def basic_auth_secret_password(self, user: str, secret: str) -> "Request":
        """HTTP Basic with a literal user name and the secret as password."""
        self.secrets.append(("basic", ("literal", user), ("secret", secret)))
        return self

    def url_secret(self, name: str) -> "Request":
        """Lets the host replace `{secret:NAME}` in the URL with secret NAME."""
        self.secrets.append(("url", name))
        return self

    def json(self, value) -> "Request":
        """A JSON body, with `Content-Type: application/json`."""
        return self.header("Content-Type", "application/json").data(_json.dumps(value).encode())

    def data(self, body) -> "Request":
        self.body = body.encode() if isinstance(body, str) else bytes(body)
        return self

    def timeout(self, seconds: float) -> "Request":
        self.timeout_ms = int(seconds * 1000)
        return self

    def header_value(self, name: str):
        """A header set with `header` (not the secret ones, whose values
        only the host knows)."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def secret_names(self) -> list:
        """The names of the secrets the host is asked to splice in."""
        names = []
        for use in self.secrets:
            if use[0] == "header":
                names.append(use[3])
            elif use[0] == "url":
                names.append(use[1])
            else:
                names.extend(text for how, text in use[1:] if how == "secret")
        return names

    def send(self) -> "Response":
        return _host.http_send(self)


class Response:
    """A response: status, headers (names in lower case) and body (bytes)."""

    def __init__(self, status: int, body=b"", headers=()):
        self.status = status
        self.body = body.encode() if isinstance(body, str) else bytes(body)
        self.headers = [(k.lower(), v) for k, v in headers]

    def header(self, name: str):
        return next((v for k, v in self.headers if k == name.lower()), None)

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        """The body as JSON; a `Fatal` error when it is not."""
        try:
            return _json.loads(self.body)
        except ValueError as e:
            raise Fatal(f"response body is not the expected JSON: {e}") from None

    def error_for_status(self, what: str) -> "Response":
        """Raises for an error status: 408, 429 and 5xx are `Retryable`,
        other 4xx `Fatal`."""
        if self.status < 400:
            return self
        message = f"{what}: HTTP {self.status}: {self.text()[:300].strip()}"
        raise (Retryable if self.status in (408, 429) or self.status >= 500 else Fatal)(message)
