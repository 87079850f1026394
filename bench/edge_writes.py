#!/usr/bin/env python3
"""Sends exactly N calls through the Worker (16 at a time), spread over one account's keys,
waits for the last flush to reach the origin, then prints the storage writes, alarms and
requests of the Durable Objects that metered them (their signed /internal/stats: one per
account where the stats name it, else one per key, summed) and the usage the origin counted.

usage: edge_writes.py <worker url> <origin url> <key>[,<key>…] <calls> <jwt of the keys' owner>
EDGE_SECRET in the environment signs the stats request.
"""
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

worker, origin, calls, token = sys.argv[1], sys.argv[2], int(sys.argv[4]), sys.argv[5]
keys = sys.argv[3].split(",")


def call(i):
    key = keys[i % len(keys)]
    request = urllib.request.Request(f"{worker}/v1/writes/{i}", headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request) as answer:
        return answer.status


started = time.monotonic()
with ThreadPoolExecutor(16) as pool:
    statuses = list(pool.map(call, range(calls)))
elapsed = time.monotonic() - started
ok = sum(1 for status in statuses if status == 200)

used = 0
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    request = urllib.request.Request(f"{origin}/api/me", headers={"Authorization": f"Bearer {token}"})
    used = json.load(urllib.request.urlopen(request))["used"]
    if used >= ok:
        break
    time.sleep(0.5)

def stats_of(key):
    key_hash = hashlib.sha256(key.encode()).hexdigest()
    path = f"/internal/stats/{key_hash}"
    now = int(time.time())
    message = f"{now}.edge-stats.GET {path}\n".encode()
    mac = hmac.new(os.environ["EDGE_SECRET"].encode(), message, hashlib.sha256).hexdigest()
    request = urllib.request.Request(f"{worker}{path}", headers={"tollgate-signature": f"t={now},v1={mac}"})
    return json.load(urllib.request.urlopen(request))


# An account's object answers for each of its keys: counted once.
objects = {}
for key in keys:
    found = stats_of(key)
    objects[found.get("account_id") or key] = found
stats = {name: sum(found[name] for found in objects.values())
         for name in ("storage_writes", "alarms_set", "pending_calls", "requests")}
print(f"calls: {calls} sent over {len(keys)} keys, {ok} allowed, in {elapsed:.1f} s")
print(f"origin counted: {used}")
print(f"Durable Objects: {len(objects)}; storage writes: {stats['storage_writes']}, "
      f"alarms set: {stats['alarms_set']}, pending: {stats['pending_calls']}")
print(f"writes per 10,000 calls: {stats['storage_writes'] * 10000 / calls:.1f}")
print(f"Durable Object requests (decisions and lease settlements): {stats['requests']}, "
      f"metered calls per request: {ok / max(stats['requests'], 1):.1f}")
