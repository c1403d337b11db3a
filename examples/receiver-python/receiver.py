"""A ScaiHub webhook receiver in Python: verifies the signature of every
delivery, in whichever scheme the webhook uses, before doing anything with
it, and answers at once.

    SCAIHUB_WEBHOOK_SECRET=whsec_... python receiver.py

Settings (environment):
    SCAIHUB_WEBHOOK_SECRET  the webhook's secret; during a rotation, both
                            (comma separated): a delivery is genuine if it
                            verifies with any of them
    RECEIVER_LISTEN         host:port to listen on (default 127.0.0.1:9000;
                            port 0 picks a free one)

It prints one JSON line per request: {"listening": url} once, then
{"accepted": delivery_id, "scheme", "event_id"} or {"rejected": reason}.
"""

import hashlib
import hmac
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

SECRETS = [s.strip() for s in os.environ.get("SCAIHUB_WEBHOOK_SECRET", "").split(",") if s.strip()]

# Replays: ids of deliveries already accepted (a real receiver keeps them in
# its database for longer than the 5-minute timestamp window).
_seen: set[str] = set()
_seen_lock = threading.Lock()


class Rejected(Exception):
    pass


def event_id(body: bytes) -> str | None:
    """The event id a JSON body carries (a transform may send other bodies)."""
    try:
        return json.loads(body).get("event_id")
    except (ValueError, AttributeError):
        return None


def verify(body: bytes, headers) -> tuple[str, str]:
    """The scheme the request was signed in and the id to deduplicate by."""
    if headers.get("webhook-signature") is not None:
        # Standard Webhooks: `v1,<base64>` over id.timestamp.body; the
        # library also refuses a timestamp more than 5 minutes off, which is
        # what stops a captured request from being replayed later.
        plain = {k.lower(): v for k, v in headers.items()}
        error = None
        for secret in SECRETS:
            try:
                Webhook(secret).verify(body, plain, json_parse=False)
                return "standard", plain["webhook-id"]
            except WebhookVerificationError as e:
                error = e
        raise Rejected(f"standard signature: {error}")
    # ScaiDrive's scheme: `sha256=<hex>` of the body, keyed by the whole
    # secret string; after a rotation the header lists several, comma
    # separated. The signature covers the body only, not the X-ScaiDrive-*
    # headers, so replays are refused by the body's event_id (signed), not
    # by X-ScaiDrive-Timestamp or the delivery id.
    header = headers.get("x-scaidrive-signature")
    if header is None:
        raise Rejected("no signature header")
    given = [s.strip() for s in header.split(",")]
    for secret in SECRETS:
        want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if any(hmac.compare_digest(want, sig) for sig in given):
            return "scaidrive", event_id(body) or headers.get("x-scaidrive-delivery-id", "")
    raise Rejected("scaidrive signature: no signature matches")


_say_lock = threading.Lock()


def say(line: dict) -> None:
    """One whole line at a time, though requests are served by threads."""
    with _say_lock:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        try:
            scheme, dedup_id = verify(body, self.headers)
        except Rejected as e:
            say({"rejected": str(e)})
            self.send_response(401)
            self.end_headers()
            return
        with _seen_lock:
            fresh = dedup_id not in _seen
            _seen.add(dedup_id)
        if fresh:
            say({
                "accepted": self.headers.get("x-scaidrive-delivery-id"),
                "scheme": scheme,
                "event_id": event_id(body),
            })
        # A repeat is answered 200 too, so ScaiHub stops, and not handled again.
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def main() -> None:
    if not SECRETS:
        sys.exit("SCAIHUB_WEBHOOK_SECRET is required")
    host, port = os.environ.get("RECEIVER_LISTEN", "127.0.0.1:9000").rsplit(":", 1)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    say({"listening": f"http://{host}:{server.server_address[1]}"})
    server.serve_forever()


if __name__ == "__main__":
    main()
