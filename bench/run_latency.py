"""Run-start latency of workflows sold as APIs: from a customer's run request at the
gateway to the start arriving at the workflow's webhook. Plays the workflow (answers the
start at once, then calls back with an output, freeing the run's slot), sends N run
requests one after another, and prints the median and p99.

usage: run_latency.py <gateway base URL> <API key> <admin token> <requests>"""
import http.server
import json
import statistics
import sys
import threading
import time
import urllib.request

base, key, admin, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
arrived = {}


def post(url, body, token):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    with urllib.request.urlopen(request) as answer:
        return json.loads(answer.read() or b"null")


class Workflow(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        start = json.loads(self.rfile.read(int(self.headers["content-length"])))
        arrived[start["runId"]] = time.perf_counter()
        self.send_response(202)
        self.end_headers()
        callback = {"workflowId": start["workflowId"], "status": "completed", "output": {"ok": True}}
        threading.Thread(target=post, args=(start["callbackUrl"], callback, None)).start()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Workflow)
threading.Thread(target=server.serve_forever, daemon=True).start()
webhook = "http://127.0.0.1:%d/start" % server.server_address[1]
post(base + "/admin/workflows", {"id": "latency", "name": "latency", "webhook_url": webhook,
                                 "sell": {"meter": "generations"}}, admin)

sent = {}
for _ in range(count):
    t0 = time.perf_counter()
    run = post(base + "/v1/workflows/latency/runs", {"input": {}}, key)
    sent[run["run_id"]] = t0
    deadline = time.time() + 10
    while run["run_id"] not in arrived and time.time() < deadline:
        time.sleep(0.0002)
latencies = sorted((arrived[run] - t0) * 1000 for run, t0 in sent.items() if run in arrived)
p99 = latencies[max(0, int(len(latencies) * 0.99 + 0.5) - 1)]
print("run starts: %d of %d arrived; median %.2f ms, p99 %.2f ms, max %.2f ms"
      % (len(latencies), count, statistics.median(latencies), p99, latencies[-1]))
