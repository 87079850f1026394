"""Schemathesis hooks for tollgate (scripts/schemathesis.sh loads them).

A workflow's id is chosen by its client and registered once (a second registration is
`409 workflow_exists`). The fuzzer draws the same few ids again and again, so each valid id
it draws for a registration is made new, as a client registering workflows makes it.
"""

import itertools
import re

import schemathesis

_fresh = itertools.count()
# The workflow id pattern of docs/openapi.json (tollgate_core::ids::id_pattern("")).
_ID = re.compile(r"^(?:\.?[A-Za-z0-9_@:-])+\.?$")


@schemathesis.hook
def map_body(ctx, body):
    operation = ctx.operation
    if operation.method.upper() != "POST" or operation.path != "/admin/workflows" or not isinstance(body, dict):
        return body
    workflow_id = body.get("id")
    if isinstance(workflow_id, str) and len(workflow_id) <= 240 and _ID.match(workflow_id):
        body["id"] = f"w{next(_fresh)}_{workflow_id}"
    return body
