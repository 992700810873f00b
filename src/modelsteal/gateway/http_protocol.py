"""The HTTP/1.1 protocol the gateway serves with: uvicorn's, answering malformed HTTP in JSON.

A request that is not valid HTTP (a ``Content-Length`` that lies, a broken header) never
reaches the app; uvicorn answers it itself with a plain-text 400. Clients of the gateway
read every refusal as ``{"error": {"code": ..., "message": ...}}``, so this subclass writes
that body instead, with the stable code ``bad_http``.
"""

from __future__ import annotations

import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

BAD_HTTP_CODE = "bad_http"


def bad_http_response(msg: str, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    body = json.dumps(
        {
            "error": {
                "code": BAD_HTTP_CODE,
                "message": f"the request is not valid HTTP/1.1 ({msg}); check Content-Length and the headers",
            }
        }
    ).encode()
    head = [b"HTTP/1.1 400 Bad Request\r\n"]
    head += [name + b": " + value + b"\r\n" for name, value in default_headers]
    head += [
        b"content-type: application/json\r\n",
        b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
        b"connection: close\r\n\r\n",
    ]
    return b"".join(head) + body


class JSONErrorProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a JSON body for requests that are not valid HTTP."""

    def send_400_response(self, msg: str) -> None:
        self.transport.write(bad_http_response(msg, list(self.server_state.default_headers)))
        self.transport.close()
