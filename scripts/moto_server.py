#!/usr/bin/env python3
"""moto's server (`python3 -m moto.server`) with the Step Functions gaps that stepgate's AWS backend meets filled in.

moto executes ASL through the Step Functions API when told to (`/moto-api/config`, `stepfunctions.execute_state_machine`)
with an interpreter that supports activity tasks, but its server (5.2.x, and its main branch as of this writing)
does not wire all of it up:

  1. A second StartExecution in one process fails with HTTP 500: each execution deep-copies its state machine, and
     with it the backend and the earlier executions' locks ("cannot pickle '_thread.RLock' object").
  2. StartExecution on a version ARN fails with HTTP 500, and on an alias ARN with StateMachineDoesNotExist.
  3. Activities: CreateActivity is not idempotent (AWS answers the same ARN for the same name), the interpreter is
     handed an empty activity store, so an activity task is never offered to a worker, and GetActivityTask has no
     route at all.
  4. SendTaskFailure drops the cause.

This launcher patches those four places and then runs moto's own server main; everything else (the ASL interpreter,
activity scheduling, heartbeats and timeouts, history events) is moto's.

    python3 scripts/moto_server.py -H 127.0.0.1 -p PORT

STEPGATE_MOTO_ACTIVITY_POLL_SECONDS (default 60, as AWS) bounds one GetActivityTask long poll.
"""
import copy
import json
import os
import random
import time

from moto.server import main
from moto.stepfunctions import responses
from moto.stepfunctions.exceptions import ActivityDoesNotExist
from moto.stepfunctions.parser import models as parser_models
from moto.stepfunctions.parser.backend.activity import Activity as ParserActivity
from moto.stepfunctions.parser.asl.eval.callback.callback import ActivityCallbackEndpoint
from moto.stepfunctions.parser.api import ExecutionStatus

Backend = parser_models.StepFunctionsParserBackend
POLL_SECONDS = float(os.environ.get("STEPGATE_MOTO_ACTIVITY_POLL_SECONDS", "60"))


def _activities(backend):
    """The interpreter's activity store, one per backend (account and region)."""
    if not hasattr(backend, "stepgate_activities"):
        backend.stepgate_activities = {}
    return backend.stepgate_activities


def _resolve(backend, arn):
    """The base state machine and the revision (itself, a version, or an alias's version) an ARN runs."""
    for machine in backend.state_machines:
        if arn == machine.arn:
            return machine, machine
        if arn.startswith(machine.arn + ":"):
            qualifier = arn[len(machine.arn) + 1:]
            if qualifier.isdigit() and int(qualifier) in machine.versions:
                return machine, machine.versions[int(qualifier)]
            alias = machine.aliases.get(qualifier)
            if alias is not None:
                routes = alias.routing_configuration
                pick = random.choices(routes, weights=[r["weight"] for r in routes])[0]["stateMachineVersionArn"]
                return machine, machine.versions[int(pick.rsplit(":", 1)[1])]
    return backend.describe_state_machine(arn), None  # raises StateMachineDoesNotExist


def start_execution(self, state_machine_arn, name=None, execution_input=None, trace_header=None):
    machine, revision = _resolve(self, state_machine_arn)
    existing = machine._handle_name_input_idempotency(name, execution_input)
    if existing is not None:
        return existing
    input_data = "{}" if execution_input is None else execution_input
    json.loads(input_data)
    # A shallow copy keeps this execution's definition when the machine is updated later (what moto's deepcopy is for).
    frozen = copy.copy(revision)
    frozen.sm_type = getattr(machine, "sm_type", "STANDARD")
    arn = f"arn:{self.partition}:states:{self.region_name}:{self.account_id}:execution:{machine.name}:{name}"
    execution = parser_models.Execution(
        name=name, sm_type=frozen.sm_type, role_arn=frozen.roleArn, exec_arn=arn, account_id=self.account_id,
        region_name=self.region_name, state_machine=frozen,
        start_date=parser_models.datetime.datetime.now(tz=parser_models.datetime.timezone.utc),
        cloud_watch_logging_session=None, input_data=input_data, trace_header=trace_header,
        activity_store=_activities(self))
    machine.executions.append(execution)
    execution.start()
    return execution


def create_activity(self, name, tags=None, encryption_configuration=None):
    arn = f"arn:{self.partition}:states:{self.region_name}:{self.account_id}:activity:{name}"
    if arn in self.activities:
        return self.activities[arn]
    activity = Backend.__bases__[0].create_activity(self, name, tags, encryption_configuration)
    _activities(self)[arn] = ParserActivity(arn=arn, name=name)
    return activity


def get_activity_task(self):
    arn = self._get_param("activityArn")
    worker = self._get_param("workerName")
    backend = self.stepfunction_backend
    activity = _activities(backend).get(arn)
    if activity is None:
        raise ActivityDoesNotExist(arn)
    deadline = time.monotonic() + POLL_SECONDS
    while True:
        try:
            task = activity.get_task()
            break
        except IndexError:
            if time.monotonic() >= deadline:
                return json.dumps({})
            time.sleep(0.02)
    for execution in backend._get_executions(ExecutionStatus.RUNNING):
        endpoint = execution.exec_worker.env.callback_pool_manager.get(callback_id=task.task_token)
        if isinstance(endpoint, ActivityCallbackEndpoint):
            endpoint.notify_activity_task_start(worker_name=worker)
            break
    return json.dumps({"taskToken": task.task_token, "input": task.task_input})


def send_task_failure(self):
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause"))
    return responses.EmptyResult()


Backend.start_execution = start_execution
Backend.create_activity = create_activity
responses.StepFunctionResponse.get_activity_task = get_activity_task
responses.StepFunctionResponse.send_task_failure = send_task_failure

if __name__ == "__main__":
    main()
