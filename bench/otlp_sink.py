"""A minimal OTLP/HTTP traces endpoint in its own process, for the tracing-overhead benchmark.

It decodes every export with the official protobuf definitions (the work a
collector does) and counts the spans; ``GET /count`` answers the total. Run as
``python -m bench.otlp_sink``: prints ``otlp-sink listening on http://HOST:PORT``.
Its own process, so decoding never competes with the load generator's threads.
"""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class _Sink(BaseHTTPRequestHandler):
    spans = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        self._answer(str(_Sink.spans).encode(), "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/v1/traces":
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            count = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
            with _Sink.lock:
                _Sink.spans += count
        self._answer(b"", "application/x-protobuf")

    def _answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    print(f"otlp-sink listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
