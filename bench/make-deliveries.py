#!/usr/bin/env python3
"""Writes signed Stripe deliveries for bench/webhooks.lua, one per line: `signature<TAB>body`.

OUT.link holds the one delivery to send first: it links customer cus_bench to account bench
(checkout.session.completed). OUT holds COUNT distinct invoice.paid events for that customer,
so each one is recorded, queued and applied. Signed with the current time: run the benchmark
within Stripe's 300 s tolerance.
usage: make-deliveries.py OUT COUNT SECRET
"""
import hashlib
import hmac
import json
import sys
import time

out, count, secret = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
now = int(time.time())


def event(n, event_type, obj):
    return json.dumps({"id": f"evt_bench_{n}", "object": "event", "api_version": "2025-09-30.clover",
                       "created": now, "type": event_type, "livemode": False, "data": {"object": obj}},
                      separators=(",", ":"))


def line(body):
    digest = hmac.new(secret, f"{now}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={now},v1={digest}\t{body}\n"


with open(out + ".link", "w") as f:
    f.write(line(event(0, "checkout.session.completed",
                       {"id": "cs_bench", "object": "checkout.session", "client_reference_id": "bench", "customer": "cus_bench"})))
with open(out, "w") as f:
    for n in range(1, count + 1):
        f.write(line(event(n, "invoice.paid", {
            "id": f"in_bench_{n}", "object": "invoice", "customer": "cus_bench", "currency": "usd",
            "amount_paid": 2999, "status": "paid",
            "payments": {"data": [{"payment": {"type": "payment_intent", "payment_intent": f"pi_bench_{n}"}}]}})))
