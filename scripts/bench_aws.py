#!/usr/bin/env python3
"""AWS engine bench: execution start latency on AWS Step Functions (moto's server on loopback).

Runs `stepgate-bench aws N` (Sources/stepgate-bench/AWSBenchmark.swift) against STEPGATE_TEST_AWS_ENDPOINT, which
make bench provides through scripts/with-test-servers.sh, and prints its figures (milliseconds; medians of N).

    python3 scripts/bench_aws.py [--runs 20]
"""
import argparse, json, os, subprocess, sys

BENCH = os.environ.get("STEPGATE_BENCH", ".build/release/stepgate-bench")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if "STEPGATE_TEST_AWS_ENDPOINT" not in os.environ:
        sys.exit("bench_aws: STEPGATE_TEST_AWS_ENDPOINT is not set; run it through scripts/with-test-servers.sh")
    done = subprocess.run([BENCH, "aws", str(args.runs)], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit("bench_aws: %s" % (done.stderr.strip() or "stepgate-bench aws exited %d" % done.returncode))
    r = json.loads(done.stdout)
    print("AWS engine on moto (loopback), %d runs each, milliseconds:" % r["times"])
    print("  first run of a revision (activity, state machine, version, alias, start, follow): %8.1f" % r["firstRunMilliseconds"])
    print("  StartExecution on the revision's alias (median):                                %8.1f" % r["startExecutionMilliseconds"])
    print("  one Pass state, start to recorded end (median):                                 %8.1f" % r["passRunMilliseconds"])
    print("  one stepgate:command task served as an activity, start to recorded end (median): %8.1f" % r["commandRunMilliseconds"])


if __name__ == "__main__":
    main()
