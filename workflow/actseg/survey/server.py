"""The HTTP server of the survey: the standard library's `ThreadingHTTPServer` around
`SurveyApp`. A study serves tens of people answering a question every few seconds; the
standard library does that in a page of code with no dependency to install or keep up to
date, and SQLite serialises the writes. Bind to 127.0.0.1 (the default) and put a reverse
proxy with TLS in front to reach people on other machines.
"""

from __future__ import annotations

import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from actseg.survey.answers import MAX_BODY_BYTES
from actseg.survey.app import Response, SurveyApp, json_response

log = logging.getLogger(__name__)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "Content-Security-Policy": "default-src 'self'; img-src 'self'",
    "X-Frame-Options": "DENY",
}


class SurveyHandler(BaseHTTPRequestHandler):
    server_version = "actseg-survey"
    app: SurveyApp  # set on the subclass made by `make_server`

    def do_GET(self):
        self._send(self.app.handle("GET", self.path))

    def do_POST(self):
        length = self.headers.get("Content-Length", "")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self._send(json_response({"error": "a request body of at most "
                                      f"{MAX_BODY_BYTES} bytes with Content-Length"}, 413))
            return
        self._send(self.app.handle("POST", self.path, self.rfile.read(int(length))))

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        headers = {"Content-Type": response.content_type,
                   "Content-Length": str(len(response.body)), "Cache-Control": "no-store",
                   **SECURITY_HEADERS, **response.headers}
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format, *args):  # noqa: A002 (the base class's signature)
        log.info("%s %s", self.address_string(), format % args)


class SurveyServer(ThreadingHTTPServer):
    daemon_threads = True
    # the listen backlog: the default 5 resets connections when a team submits at once
    # (seen with 20 simultaneous posts on a loaded 2-core machine)
    request_queue_size = 128


def make_server(app: SurveyApp, host: str = "127.0.0.1", port: int = 0) -> SurveyServer:
    """A server bound to (host, port); port 0 picks a free one (`server.server_port`)."""
    handler = type("BoundSurveyHandler", (SurveyHandler,), {"app": app})
    return SurveyServer((host, port), handler)
