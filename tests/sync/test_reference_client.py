"""The reference client treats what did not come from the API as a lost response, never as a crash."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mobile_contracts.reference_client import HttpTransport, ResponseLost


class _BadGateway(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bad_gateway() -> Iterator[str]:
    """A loopback server that answers every request like a load balancer whose upstream is down."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BadGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_html_502_from_a_load_balancer_is_a_lost_response_to_retry(bad_gateway):
    transport = HttpTransport(bad_gateway, timeout=5)
    with pytest.raises(ResponseLost, match="502"):
        transport.request("POST", "/sync/push", headers={}, body={"device_id": "d", "mutations": []})
