// A ScaiHub webhook receiver in Node: verifies the signature of every
// delivery, in whichever scheme the webhook uses, before doing anything
// with it, and answers at once.
//
//   SCAIHUB_WEBHOOK_SECRET=whsec_... node receiver.mjs
//
// Settings (environment):
//   SCAIHUB_WEBHOOK_SECRET  the webhook's secret; during a rotation, both
//                           (comma separated): a delivery is genuine if it
//                           verifies with any of them
//   RECEIVER_LISTEN         host:port to listen on (default 127.0.0.1:9000;
//                           port 0 picks a free one)
//
// It prints one JSON line per request: {"listening": url} once, then
// {"accepted": delivery_id, "scheme", "event_id"} or {"rejected": reason}.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";
import { Webhook, WebhookVerificationError } from "standardwebhooks";

const secrets = (process.env.SCAIHUB_WEBHOOK_SECRET ?? "")
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
if (secrets.length === 0) {
  console.error("SCAIHUB_WEBHOOK_SECRET is required");
  process.exit(2);
}
const [host, port] = (process.env.RECEIVER_LISTEN ?? "127.0.0.1:9000").split(":");

// Replays: the ids of deliveries already accepted (a real receiver keeps
// them in its database for longer than the 5-minute timestamp window).
const seen = new Set();

/** The scheme a request was signed in and its verdict, or an Error. */
function verify(body, headers) {
  if (headers["webhook-signature"] !== undefined) {
    // Standard Webhooks: `v1,<base64>` over id.timestamp.body; the library
    // also refuses a timestamp more than 5 minutes off, which is what
    // stops a captured request from being replayed later.
    let lastError;
    for (const secret of secrets) {
      try {
        new Webhook(secret).verify(body, headers);
        return { scheme: "standard", id: headers["webhook-id"] };
      } catch (e) {
        if (!(e instanceof WebhookVerificationError)) throw e;
        lastError = e;
      }
    }
    return new Error(`standard signature: ${lastError.message}`);
  }
  // ScaiDrive's scheme: `sha256=<hex>` of the body, keyed by the whole
  // secret string; after a rotation the header lists several, comma
  // separated. The signature covers the body only, not the
  // X-ScaiDrive-* headers, so replays are refused by the body's event_id
  // (signed), not by X-ScaiDrive-Timestamp or the delivery id.
  const header = headers["x-scaidrive-signature"];
  if (header === undefined) return new Error("no signature header");
  const given = header.split(",").map((s) => s.trim());
  for (const secret of secrets) {
    const want = Buffer.from(
      "sha256=" + createHmac("sha256", secret).update(body).digest("hex"),
    );
    for (const sig of given) {
      const got = Buffer.from(sig);
      if (got.length === want.length && timingSafeEqual(got, want)) {
        return { scheme: "scaidrive", id: eventId(body) ?? headers["x-scaidrive-delivery-id"] };
      }
    }
  }
  return new Error("scaidrive signature: no signature matches");
}

/** The event id a JSON body carries (a transform may send other bodies). */
function eventId(body) {
  try {
    return JSON.parse(body.toString("utf8")).event_id;
  } catch {
    return undefined;
  }
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    const body = Buffer.concat(chunks);
    const verdict = verify(body, req.headers);
    if (verdict instanceof Error) {
      console.log(JSON.stringify({ rejected: verdict.message }));
      res.writeHead(401).end();
      return;
    }
    if (seen.has(verdict.id)) {
      // Already handled: answer 200 so ScaiHub stops, do nothing again.
      res.writeHead(200).end();
      return;
    }
    seen.add(verdict.id);
    console.log(
      JSON.stringify({
        accepted: req.headers["x-scaidrive-delivery-id"],
        scheme: verdict.scheme,
        event_id: eventId(body),
      }),
    );
    res.writeHead(200).end();
  });
});

server.listen(Number(port), host, () => {
  const { address, port } = server.address();
  console.log(JSON.stringify({ listening: `http://${address}:${port}` }));
});
