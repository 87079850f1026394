#!/usr/bin/env python3
"""Sends exactly N calls with one key through the Worker (16 at a time), waits for the
Durable Object's last flush to reach the origin, then prints the object's storage writes,
alarms and requests (its signed /internal/stats) and the usage the origin counted.

usage: edge_writes.py <worker url> <origin url> <key> <calls> <jwt of the key's owner>
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

worker, origin, key, calls, token = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]


def call(i):
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

key_hash = hashlib.sha256(key.encode()).hexdigest()
path = f"/internal/stats/{key_hash}"
now = int(time.time())
mac = hmac.new(os.environ["EDGE_SECRET"].encode(), f"{now}.edge-stats.GET {path}\n".encode(), hashlib.sha256).hexdigest()
request = urllib.request.Request(f"{worker}{path}", headers={"tollgate-signature": f"t={now},v1={mac}"})
stats = json.load(urllib.request.urlopen(request))
print(f"calls: {calls} sent, {ok} allowed, in {elapsed:.1f} s")
print(f"origin counted: {used}")
print(f"Durable Object storage writes: {stats['storage_writes']}, alarms set: {stats['alarms_set']}, pending: {stats['pending_calls']}")
print(f"writes per 10,000 calls: {stats['storage_writes'] * 10000 / calls:.1f}")
print(f"Durable Object requests (decisions and lease settlements): {stats['requests']}, "
      f"metered calls per request: {ok / max(stats['requests'], 1):.1f}")
