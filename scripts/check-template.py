#!/usr/bin/env python3
"""Checks on template.yaml that cfn-lint does not make.

- every SQS queue that triggers a function hides a message for at least six times the
  function's timeout (AWS's advice; otherwise a slow batch is processed twice);
- the redrive count defaults to the receives the code counts on (DEFAULT_MAX_RECEIVES);
- every HTTP function is built by cargo-lambda for arm64 on provided.al2023;
- every HTTP route has a throttle of its own (RouteSettings), and every throttle names a route.
Exits non-zero, naming what is wrong.
"""
import re
import sys
from pathlib import Path

from cfnlint.decode import decode

root = Path(__file__).resolve().parent.parent
template, problems = decode(str(root / "template.yaml"))
if problems:
    sys.exit(f"template.yaml does not parse: {problems}")

resources = template["Resources"]
globals_ = template.get("Globals", {}).get("Function", {})
failures = []


def function_setting(function, name):
    return function["Properties"].get(name, globals_.get(name))


for name, resource in resources.items():
    if resource["Type"] != "AWS::Serverless::Function":
        continue
    if resource.get("Metadata", {}).get("BuildMethod") != "rust-cargolambda":
        failures.append(f"{name}: BuildMethod is not rust-cargolambda")
    if function_setting(resource, "Architectures") != ["arm64"]:
        failures.append(f"{name}: not arm64")
    if function_setting(resource, "Runtime") != "provided.al2023":
        failures.append(f"{name}: not provided.al2023")
    timeout = function_setting(resource, "Timeout")
    for event in resource["Properties"].get("Events", {}).values():
        if event["Type"] != "SQS":
            continue
        if "ReportBatchItemFailures" not in event["Properties"].get("FunctionResponseTypes", []):
            failures.append(f"{name}: SQS source without ReportBatchItemFailures")
        queue = event["Properties"]["Queue"]["Fn::GetAtt"][0]
        queue_props = resources[queue]["Properties"]
        visibility = queue_props.get("VisibilityTimeout", 30)
        if visibility < 6 * timeout:
            failures.append(f"{queue}: VisibilityTimeout {visibility}s < 6 x {name} Timeout {timeout}s")
        if "RedrivePolicy" not in queue_props:
            failures.append(f"{queue}: no dead-letter queue")

def code_constant(path, name):
    return int(re.search(rf"{name}: u32 = ([\d_]+);", (root / path).read_text()).group(1).replace("_", ""))


for parameter, path, constant in [
    ("MaxReceives", "shared/app/src/lib.rs", "DEFAULT_MAX_RECEIVES"),
    ("RunMaxReceives", "shared/app/src/lib.rs", "DEFAULT_MAX_RECEIVES"),
    ("DailyRunCap", "shared/core/src/workflow.rs", "DEFAULT_DAILY_STARTS"),
    ("ConcurrentRunCap", "shared/core/src/workflow.rs", "DEFAULT_CONCURRENT_RUNS"),
]:
    template_default = template["Parameters"][parameter]["Default"]
    code_default = code_constant(path, constant)
    if template_default != code_default:
        failures.append(f"{parameter} defaults to {template_default}, the code ({constant}) to {code_default}")

routes = {
    f'{event["Properties"]["Method"]} {event["Properties"]["Path"]}'
    for resource in resources.values()
    if resource["Type"] == "AWS::Serverless::Function"
    for event in resource["Properties"].get("Events", {}).values()
    if event["Type"] == "HttpApi"
}
throttled = set(resources["HttpApi"]["Properties"].get("RouteSettings", {}))
for route in sorted(routes - throttled):
    failures.append(f"HttpApi: route {route} has no throttle of its own in RouteSettings")
for route in sorted(throttled - routes):
    failures.append(f"HttpApi: RouteSettings names {route}, which no function serves")

# The runner is fed by two queues, each bounded on its own: a shared reserved concurrency
# would let a burst of customers' starts hold back the operator's, or the other way round.
runner = resources["WorkflowRunnerFunction"]["Properties"]
if "ReservedConcurrentExecutions" in runner:
    failures.append("WorkflowRunnerFunction: a reserved concurrency shared by both queues")
bounds = {
    event["Properties"]["Queue"]["Fn::GetAtt"][0]: event["Properties"].get("ScalingConfig", {}).get("MaximumConcurrency")
    for event in runner["Events"].values()
    if event["Type"] == "SQS"
}
if set(bounds) != {"RunsQueue", "CustomerRunsQueue"}:
    failures.append(f"WorkflowRunnerFunction: fed by {sorted(bounds)}, not RunsQueue and CustomerRunsQueue")
if bounds.get("CustomerRunsQueue") != {"Ref": "CustomerRunStarts"}:
    failures.append("WorkflowRunnerFunction: customer-runs is not bounded by CustomerRunStarts")
if not isinstance(bounds.get("RunsQueue"), int):
    failures.append("WorkflowRunnerFunction: runs has no maximum concurrency of its own")

if failures:
    sys.exit("template.yaml:\n  " + "\n  ".join(failures))
print("template.yaml: queue visibility, redrive and build settings check out")
