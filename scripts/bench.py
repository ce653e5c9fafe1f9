#!/usr/bin/env python3
"""Runs stepgate's benchmarks and the named peers in one run, and prints figures and ratios.

Engine (issue targets): (a) counting loop, 100,000 iterations, history recorded: >= 1,000,000
transitions/s, peak memory < 256 MB; the same loop with 300 iterations through moto's ASL
interpreter and the per-transition ratio. (b) Map over 10,000 items: < 1 s. (c) validating a
500-state definition: < 20 ms. Sandbox: a command task in bubblewrap costs < 10 ms more to start
than the same task without a sandbox.
"""
import json, os, platform, subprocess, sys, time

BENCH = os.environ.get("STEPGATE_BENCH", ".build/release/stepgate-bench")


def run(*args):
    out = subprocess.run([BENCH, *map(str, args)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def moto_loop(iterations):
    """Runs the same counting loop through moto's interpreter; returns (transitions, seconds)."""
    import logging
    logging.disable(logging.CRITICAL)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    import boto3
    from moto import mock_aws
    m = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
    m.start()
    c = boto3.client("stepfunctions", region_name="us-east-1")
    definition = {
        "StartAt": "Increment",
        "States": {
            "Increment": {"Type": "Pass", "Parameters": {"count.$": "States.MathAdd($.count, 1)", "limit.$": "$.limit"}, "Next": "Loop?"},
            "Loop?": {"Type": "Choice", "Choices": [{"Variable": "$.count", "NumericLessThanPath": "$.limit", "Next": "Increment"}], "Default": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    arn = c.create_state_machine(name="bench", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/bench")["stateMachineArn"]
    start = time.perf_counter()
    ex = c.start_execution(stateMachineArn=arn, input=json.dumps({"count": 0, "limit": iterations}))["executionArn"]
    while True:
        d = c.describe_execution(executionArn=ex)
        if d["status"] != "RUNNING":
            break
        time.sleep(0.005)
    seconds = time.perf_counter() - start
    m.stop()
    if d["status"] != "SUCCEEDED":
        raise SystemExit(f"moto's run of the loop ended {d['status']}")
    return 2 * iterations + 1, seconds


def main():
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}")
    loop = run("loop", 100_000)
    tps = loop["transitionsPerSecond"]
    print(f"(a) counting loop, 100,000 iterations: {loop['transitions']:,} transitions in {loop['seconds']:.3f} s = "
          f"{tps:,.0f} transitions/s (median of 5; range {loop['slowest']:,.0f} to {loop['fastest']:,.0f}), "
          f"{loop['events']:,} history events, peak RSS {loop['peakRSSMB']} MB [target >= 1,000,000/s, < 256 MB]")
    try:
        mt, ms = moto_loop(300)
        moto_per = ms / mt
        ours_per = loop["seconds"] / loop["transitions"]
        print(f"    moto, 300 iterations: {mt} transitions in {ms:.3f} s = {mt / ms:,.0f} transitions/s; "
              f"per-transition ratio moto/stepgate = {moto_per / ours_per:,.0f}x")
    except ImportError:
        print("    moto is not installed (pip install moto boto3): no peer figure")
    m = run("map", 10_000)
    print(f"(b) Map over 10,000 items (Choice + Pass each): {m['seconds']:.3f} s, {m['transitions']:,} transitions, "
          f"peak RSS {m['peakRSSMB']} MB [target < 1 s]")
    d = run("durable", 1000)
    sp = run("spawn", 1000)
    cm = run("command", 1000, "none")
    overhead = d["millisecondsPerExecution"] - sp["millisecondsPerSpawn"]
    print(f"(d) 1,000 durable executions (5 states, one stepgate:command running true, SQLite): "
          f"{d['executionsPerSecond']:,.0f} executions/s, {d['millisecondsPerExecution']:.2f} ms each; "
          f"bare fork/exec of true {sp['millisecondsPerSpawn']:.2f} ms; overhead per task start "
          f"{overhead:.2f} ms [target < 5 ms]; ratio {d['millisecondsPerExecution'] / sp['millisecondsPerSpawn']:.1f}x")
    print(f"    of which the command task alone (no execution, no store): {cm['millisecondsPerTask']:.2f} ms per task "
          f"({cm['millisecondsPerTask'] - sp['millisecondsPerSpawn']:.2f} ms over fork/exec)")
    sb = run("command", 300, "bubblewrap")
    bare = run("command", 300, "none")
    extra = sb["medianMilliseconds"] - bare["medianMilliseconds"]
    print(f"(e) sandbox cost per task start (stepgate:command running true, median of 300): in bubblewrap "
          f"{sb['medianMilliseconds']:.2f} ms, without a sandbox {bare['medianMilliseconds']:.2f} ms, bare fork/exec "
          f"{sp['millisecondsPerSpawn']:.2f} ms; the sandbox adds {extra:.2f} ms [target < 10 ms] "
          f"(fastest: {sb['fastestMilliseconds']:.2f} ms against {bare['fastestMilliseconds']:.2f} ms)")
    v = run("validate", 500)
    print(f"(c) parse + validate + compile a 500-state definition ({v['bytes']:,} bytes): "
          f"median {v['medianMilliseconds']:.2f} ms, {v['diagnostics']} diagnostics [target < 20 ms]")


if __name__ == "__main__":
    main()
