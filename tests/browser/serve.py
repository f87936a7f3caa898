"""Serve the built book on 127.0.0.1, as `python -m http.server -d _build/html` would, for the
browser checks and benchmarks/browser_sampler.py: the live sampler needs http (a page opened from
a file may not load WebAssembly modules), and nothing may leave the machine."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from pathlib import Path


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Files of the build, without a log line per request; the types the live sampler needs even
    where the system's MIME table lacks them."""
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".wasm": "application/wasm"}

    def log_message(self, *args) -> None:
        pass

    def send_head(self):
        """The book has no favicon; the browser asks for one all the same. "No content" instead of
        a 404, which the browser would log as an error that is not the book's."""
        if self.path == "/favicon.ico":
            self.send_response(204)
            self.end_headers()
            return None
        return super().send_head()


@contextlib.contextmanager
def serve(html_dir: Path):
    """Yield the http://127.0.0.1:PORT/ address of `html_dir`, served from a thread."""
    handler = functools.partial(QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
