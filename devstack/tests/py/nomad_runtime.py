"""Drive the runtime read endpoints of a Nomad HTTP API (allocations, deployments, plan,
client fs) with the third-party `python-nomad` client and assert the results.

Usage: python nomad_runtime.py HOST:PORT

Written against the real Nomad contract (a `nomad agent -dev` with ACLs off and the
raw_exec driver enabled): it must pass against the real agent as well as against the
devstack simulator. Exits non-zero (with a traceback) on the first failed check.
"""

import sys
import time

import nomad
from nomad.api import exceptions


def job_spec(job_id: str, script: str) -> dict:
    return {
        "Job": {
            "ID": job_id,
            "Name": job_id,
            "Type": "service",
            "Datacenters": ["dc1"],
            "Update": {
                "MaxParallel": 1,
                "MinHealthyTime": 1_000_000_000,
                "HealthyDeadline": 60_000_000_000,
                "ProgressDeadline": 120_000_000_000,
                "HealthCheck": "task_states",
            },
            "TaskGroups": [
                {
                    "Name": "app",
                    "Count": 1,
                    "Networks": [{"DynamicPorts": [{"Label": "http"}]}],
                    "Tasks": [
                        {
                            "Name": "main",
                            "Driver": "raw_exec",
                            "Config": {"command": "/bin/sh", "args": ["-c", script]},
                            "Resources": {"CPU": 100, "MemoryMB": 64},
                        }
                    ],
                }
            ],
        }
    }


def wait_for(fn, what, timeout=20.0):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def main(addr: str) -> None:
    host, port = addr.rsplit(":", 1)
    n = nomad.Nomad(host=host, port=int(port), timeout=10)

    # A plan is a dry run.
    plan = n.job.plan_job("rt-web", job_spec("rt-web", "exec sleep 600"), diff=True)
    assert plan["Annotations"]["DesiredTGUpdates"]["app"]["Place"] == 1, plan
    assert plan["Diff"]["Type"] == "Added", plan
    try:
        n.job.get_job("rt-web")
        raise AssertionError("a plan must not register the job")
    except exceptions.URLNotFoundNomadException:
        pass

    reg = n.jobs.register_job(job_spec("rt-web", "echo ready; exec sleep 600"))
    ev = n.evaluation.get_evaluation(reg["EvalID"])
    assert ev["TriggeredBy"] == "job-register", ev

    dep = wait_for(
        lambda: (lambda d: d if d and d["Status"] == "successful" else None)(
            n.job.get_deployment("rt-web")
        ),
        "a successful deployment",
    )
    assert dep["StatusDescription"] == "Deployment completed successfully", dep
    assert dep["TaskGroups"]["app"]["HealthyAllocs"] == 1, dep
    assert dep["ID"] in [d["ID"] for d in n.job.get_deployments("rt-web")]
    assert dep["ID"] in [d["ID"] for d in n.deployments.get_deployments()]
    assert n.deployment.get_deployment(dep["ID"])["JobID"] == "rt-web"
    dallocs = n.deployment.get_deployment_allocations(dep["ID"])
    assert len(dallocs) == 1 and dallocs[0]["DeploymentStatus"]["Healthy"] is True, dallocs

    allocs = n.job.get_allocations("rt-web")
    assert len(allocs) == 1, allocs
    alloc_id = allocs[0]["ID"]
    assert allocs[0]["Name"] == "rt-web.app[0]", allocs
    assert allocs[0]["ClientStatus"] == "running", allocs
    assert alloc_id in [a["ID"] for a in n.allocations.get_allocations()]
    full = n.allocation.get_allocation(alloc_id)
    assert full["Job"]["ID"] == "rt-web", full
    ports = full["AllocatedResources"]["Shared"]["Ports"]
    assert ports[0]["Label"] == "http" and ports[0]["Value"] > 0, ports
    events = [e["Type"] for e in full["TaskStates"]["main"]["Events"]]
    assert events[:3] == ["Received", "Task Setup", "Started"], events
    try:
        n.allocation.get_allocation("00000000-0000-0000-0000-000000000000")
        raise AssertionError("a missing allocation must be 404")
    except exceptions.URLNotFoundNomadException:
        pass

    # The client filesystem.
    logs = n.client.ls.list_files(alloc_id, path="/alloc/logs")
    assert "main.stdout.0" in [f["Name"] for f in logs], logs
    out = wait_for(
        lambda: n.client.cat.read_file(alloc_id, path="/alloc/logs/main.stdout.0"),
        "stdout",
    )
    assert out == "ready\n", out

    job = n.job.get_job("rt-web")
    assert job["Stable"] is True, job
    n.job.deregister_job("rt-web", purge=True)
    print("python-nomad runtime: ok")


if __name__ == "__main__":
    main(sys.argv[1])
