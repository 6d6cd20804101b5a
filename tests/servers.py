"""Real HTTP servers on loopback for tests: a scripted OpenAI-compatible endpoint and our own app."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import uvicorn


class FakeLLM:
    """Speaks the chat-completions protocol; answers with ``reply`` (plain or streamed) or hangs.

    For misbehaving upstreams: ``body`` replaces the whole JSON answer, ``events`` the data
    lines of a stream, ``trickle`` sends the answer one byte every so many seconds, and ``gap``
    waits so long between the events of a stream. ``aborted`` is set when the client hung up."""

    def __init__(
        self,
        reply: str = "",
        hang: float = 0.0,
        body: object = None,
        events: list | None = None,
        trickle: float = 0.0,
        gap: float = 0.0,
    ):
        self.reply, self.hang, self.requests = reply, hang, []
        self.body, self.events, self.trickle, self.gap = body, events, trickle, gap
        self.aborted = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests.append(body)
                if outer.hang:
                    time.sleep(outer.hang)
                try:
                    self.answer(body.get("stream"))
                except (BrokenPipeError, ConnectionResetError):  # the client gave up, as it may
                    outer.aborted.set()

            def write(self, data: bytes):
                if not outer.trickle:
                    self.wfile.write(data)
                    return
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(outer.trickle)

            def answer(self, stream: bool):
                if stream:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    events = outer.events
                    if events is None:  # split mid-word and mid-citation
                        events = [
                            {"choices": [{"index": 0, "delta": {"content": outer.reply[i : i + 7]}}]}
                            for i in range(0, len(outer.reply), 7)
                        ]
                    for event in events:
                        self.write(f"data: {json.dumps(event)}\n\n".encode())
                        self.wfile.flush()
                        time.sleep(outer.gap)
                    self.write(b"data: [DONE]\n\n")
                    return
                answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": outer.reply}}]}
                data = json.dumps(answer if outer.body is None else outer.body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """Our FastAPI app under uvicorn in a thread, for clients that need a real socket."""

    def __init__(self, app):
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("uvicorn startede ikke")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self):
        self.server.should_exit = True
        self.thread.join(10)


class ServeProcess:
    """`casefinder serve` in a child process on a free port, as an operator starts it.
    ``answering_after``: seconds from the start to the first /healthz answer; ``ready_after``:
    to the moment every worker has said "ok" (waited for unless ``wait_ok`` is False; each worker
    opens the index on its own, so one worker's "ok" says nothing of the other's)."""

    def __init__(
        self, *args: str, env: dict | None = None, output=subprocess.DEVNULL, timeout: float = 300, wait_ok: bool = True
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "casefinder.cli", "serve", "--port", str(self.port), *args],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        workers = int(args[args.index("--workers") + 1]) if "--workers" in args else 1
        ready: set[int] = set()  # the workers that said "ok"
        self.answering_after = self.ready_after = None
        while True:
            try:
                health = httpx.get(self.url + "/healthz", timeout=1).json()  # a new connection each time
                if self.answering_after is None:
                    self.answering_after = time.perf_counter() - started
                if health["status"] == "ok":
                    ready.add(health["worker"])
                if not wait_ok or len(ready) >= workers:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.perf_counter() - started > timeout:
                self.close()
                raise RuntimeError(f"casefinder serve startede ikke (kode {self.process.returncode})") from None
            time.sleep(0.05)
        self.ready_after = time.perf_counter() - started

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(30)
