#!/usr/bin/env python3
"""A webhook receiver for PromptGate's tests, on 127.0.0.1 and a free port (printed as "PORT <n>").

Every POST is checked with the `standardwebhooks` package (the reference verifier of the Standard Webhooks
format) under --secret, recorded, and answered by the next entry of --plan (the last one repeats):
  200     answer 200
  500     answer 500
  302     answer a redirect to /elsewhere on this receiver (a sender that follows it shows up there)
  big     answer 200 with a 1 MiB body
  slow    wait --slow seconds, then answer 200
GET /received answers every record so far as a JSON list. Stops on SIGTERM or when stdin closes.
"""
import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook

parser = argparse.ArgumentParser()
parser.add_argument("--secret", required=True)
parser.add_argument("--plan", default="200")
parser.add_argument("--slow", type=float, default=5.0)
options = parser.parse_args()

verifier = Webhook(options.secret)
plan = options.plan.split(",")
records = []
lock = threading.Lock()


class Receiver(BaseHTTPRequestHandler):
    def log_message(self, format, *args):
        pass

    def do_GET(self):
        if self.path != "/received":
            self.send_response(404)
            self.end_headers()
            return
        with lock:
            body = json.dumps(records).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        record = {
            "path": self.path,
            "webhook_id": self.headers.get("webhook-id"),
            "webhook_timestamp": self.headers.get("webhook-timestamp"),
            "content_type": self.headers.get("Content-Type"),
            "verified": False,
        }
        try:
            payload = verifier.verify(body, dict(self.headers.items()))
            record["verified"] = True
            record["type"] = payload.get("type")
            record["task_id"] = payload.get("data", {}).get("task_id")
            record["status"] = payload.get("data", {}).get("status")
            record["payload"] = payload
        except Exception as error:  # recorded, answered like any other request
            record["error"] = f"{type(error).__name__}: {error}"
        with lock:
            step = plan[min(len(records), len(plan) - 1)]
            record["answered"] = step
            records.append(record)
        if step == "slow":
            time.sleep(options.slow)
            step = "200"
        if step == "302":
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        answer = b"x" * (1 << 20) if step == "big" else b"ok"
        self.send_response(int(step) if step.isdigit() else 200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        try:
            self.wfile.write(answer)
        except (BrokenPipeError, ConnectionResetError):
            pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
server.daemon_threads = True
print(f"PORT {server.server_address[1]}", flush=True)
threading.Thread(target=server.serve_forever, daemon=True).start()
# The test holds stdin open; when it closes (the test ended or died), the receiver ends too.
sys.stdin.read()
server.shutdown()
