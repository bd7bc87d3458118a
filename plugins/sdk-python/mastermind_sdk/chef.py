"""The Chef Infra Server API through the host, which signs every request
with the client key the call names (`secret=NAME`); the server URL must be
granted (`chef=SERVER_URL`).

    server = chef.Server("https://chef.example.com/organizations/acme", "mastermind", "chef_client_key")
    nodes = server.get("/nodes")
"""

import json
from dataclasses import dataclass

from . import _host
from .errors import Fatal, Retryable


@dataclass
class Request:
    """A request as the host signs and sends it (what a test's stub answers)."""

    server_url: str
    client_name: str
    key_secret: str
    method: str
    path: str
    body: str = None


@dataclass
class Response:
    status: int
    body: str = ""

    def error_text(self) -> str:
        """The server's explanation (Chef's `{"error": [...]}` joined, else
        the body), cut to one readable line."""
        text = self.body.strip()
        try:
            error = json.loads(self.body).get("error")
            if error is not None:
                text = "; ".join(map(str, error)) if isinstance(error, list) else str(error)
        except (ValueError, AttributeError):
            pass
        line = " ".join(text.split())
        return (line[:300] + "…" if len(line) > 300 else line) or "no explanation given"


class Server:
    """One Chef server as one client: where, as whom, and with which key."""

    def __init__(self, url: str, client_name: str, key_secret: str):
        self.url, self.client_name, self.key_secret = url.rstrip("/"), client_name, key_secret

    def get(self, path: str):
        return self._call("GET", path, None)

    def post(self, path: str, body):
        return self._call("POST", path, body)

    def put(self, path: str, body):
        return self._call("PUT", path, body)

    def delete(self, path: str):
        return self._call("DELETE", path, None)

    def send(self, method: str, path: str, body=None) -> Response:
        """Sends one request and returns the response whatever its status;
        raises only when the host refuses or cannot deliver it."""
        text = None if body is None else json.dumps(body)
        return _host.chef_send(Request(self.url, self.client_name, self.key_secret, method.upper(), path, text))

    def _call(self, method: str, path: str, body):
        """Sends, turns an error status into an error an operator can act
        on (408, 429, 5xx retryable; the rest fatal), and parses the JSON
        body (None when empty)."""
        response = self.send(method, path, body)
        what, status = f"Chef {method} {path}", response.status
        if 200 <= status < 300:
            if not response.body.strip():
                return None
            try:
                return json.loads(response.body)
            except ValueError as e:
                raise Fatal(f"{what}: the server's answer is not JSON: {e}") from None
        text = response.error_text()
        if status == 401:
            raise Fatal(f"{what}: the Chef server refused the request (HTTP 401, not authenticated): {text}. "
                        f"Check that client '{self.client_name}' exists on {self.url} and that secret "
                        f"'{self.key_secret}' holds its private key")
        if status in (408, 429) or status >= 500:
            raise Retryable(f"{what}: the Chef server failed (HTTP {status}): {text}")
        raise Fatal(f"{what}: the Chef server rejected the request (HTTP {status}): {text}")
