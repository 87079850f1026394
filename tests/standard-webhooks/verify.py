"""Verifies deliveries signed by tollgate with the Standard Webhooks library (PyPI
`standardwebhooks`, pinned in scripts/setup.sh). Reads a JSON list of
{"secret", "headers", "body"} on stdin; prints, for each, the verified payload or the
library's error class."""
import json
import sys

import standardwebhooks
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

results = []
for delivery in json.load(sys.stdin):
    try:
        payload = Webhook(delivery["secret"]).verify(delivery["body"], delivery["headers"])
        results.append({"verified": payload})
    except WebhookVerificationError as error:
        results.append({"refused": type(error).__name__})
print(json.dumps({"library": getattr(standardwebhooks, "__version__", "unknown"), "results": results}))
