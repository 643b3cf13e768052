"""Drive a Nomad HTTP API with the third-party `python-nomad` client and assert the results.

Usage: python nomad_conformance.py HOST:PORT

Written against the real Nomad contract (a `nomad agent -dev` with ACLs off): it must pass
against the real agent as well as against the devstack simulator. Exits non-zero (with a
traceback) on the first failed check.
"""

import sys
import time

import nomad
from nomad.api import exceptions


def job_spec(job_id: str, image: str = "redis:7") -> dict:
    return {
        "Job": {
            "ID": job_id,
            "Name": job_id,
            "Type": "service",
            "Datacenters": ["dc1"],
            "TaskGroups": [
                {
                    "Name": "cache",
                    "Count": 2,
                    "Tasks": [
                        {
                            "Name": "redis",
                            "Driver": "docker",
                            "Config": {"image": image},
                            "Resources": {"CPU": 100, "MemoryMB": 64},
                        }
                    ],
                }
            ],
        }
    }


def wait_for(pred, what: str, timeout: float = 10.0):
    deadline = time.time() + timeout
    while True:
        out = pred()
        if out:
            return out
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def main() -> None:
    host, port = sys.argv[1].rsplit(":", 1)
    n = nomad.Nomad(host=host, port=int(port), timeout=10)

    # --- status / agent
    leader = n.status.leader.get_leader()
    assert isinstance(leader, str) and leader, leader
    peers = n.status.peers.get_peers()
    assert leader in peers, (leader, peers)
    assert n.regions.get_regions() == ["global"]
    me = n.agent.get_agent()
    assert me["config"]["Region"] == "global", me["config"]
    assert me["member"]["Status"] == "alive", me["member"]

    # --- namespaces
    names = [ns["Name"] for ns in n.namespaces.get_namespaces()]
    assert "default" in names, names
    n.namespace.create_namespace({"Name": "conformance", "Description": "py"})
    ns = n.namespace.get_namespace("conformance")
    assert ns["Description"] == "py" and ns["CreateIndex"] > 0, ns
    assert "conformance" in [x["Name"] for x in n.namespaces.get_namespaces()]
    try:
        n.namespace.get_namespace("does-not-exist")
        raise AssertionError("missing namespace must be 404")
    except exceptions.URLNotFoundNomadException as e:
        assert e.nomad_resp.text == "Namespace not found", e.nomad_resp.text
    try:
        n.namespace.delete_namespace("default")
        raise AssertionError("deleting default must fail")
    except exceptions.BaseNomadException as e:
        assert e.nomad_resp.status_code == 500, e.nomad_resp.status_code
        assert "can not delete default namespace" in e.nomad_resp.text, e.nomad_resp.text

    # --- variables
    v = n.variable.create_variable("app/config", {"Items": {"user": "me"}})
    assert v["Path"] == "app/config" and v["Namespace"] == "default", v
    assert v["Items"] == {"user": "me"}, v
    assert v["CreateIndex"] == v["ModifyIndex"] > 0, v
    got = n.variable.get_variable("app/config")
    assert got["Items"] == {"user": "me"}, got
    try:
        n.variable.create_variable("app/config", {"Items": {"user": "other"}}, cas=0)
        raise AssertionError("cas=0 on an existing variable must conflict")
    except exceptions.VariableConflict as e:
        assert e.nomad_resp.status_code == 409
        current = e.nomad_resp.json()
        assert current["Items"] == {"user": "me"}, current
        assert current["ModifyIndex"] == v["ModifyIndex"], current
    v2 = n.variable.create_variable(
        "app/config", {"Items": {"user": "you"}}, cas=v["ModifyIndex"]
    )
    assert v2["ModifyIndex"] > v["ModifyIndex"] and v2["CreateIndex"] == v["CreateIndex"], v2
    n.variable.create_variable("app/other", {"Items": {"k": "v"}})
    n.variable.create_variable("elsewhere", {"Items": {"k": "v"}})
    listed = n.variables.get_variables(prefix="app/")
    assert sorted(x["Path"] for x in listed) == ["app/config", "app/other"], listed
    assert all("Items" not in x for x in listed), listed
    n.variable.create_variable("ns/var", {"Items": {"a": "b"}}, namespace="conformance")
    assert n.variable.get_variable("ns/var", namespace="conformance")["Namespace"] == "conformance"
    try:
        n.variable.get_variable("ns/var")
        raise AssertionError("a variable of another namespace must be 404")
    except exceptions.URLNotFoundNomadException as e:
        assert e.nomad_resp.text == "variable not found", e.nomad_resp.text
    n.variable.delete_variable("app/other")
    try:
        n.variable.get_variable("app/other")
        raise AssertionError("deleted variable must be 404")
    except exceptions.URLNotFoundNomadException:
        pass

    # --- jobs
    reg = n.jobs.register_job(job_spec("conf-web"))
    assert reg["EvalID"] and reg["JobModifyIndex"] > 0, reg
    assert reg["EvalCreateIndex"] > 0 and reg["Warnings"] == "", reg
    job = n.job.get_job("conf-web")
    assert job["ID"] == "conf-web" and job["Version"] == 0, job
    assert job["Namespace"] == "default" and job["Priority"] == 50, job
    assert job["JobModifyIndex"] == reg["JobModifyIndex"], (job, reg)
    assert job["Stop"] is False, job
    assert job["TaskGroups"][0]["Count"] == 2, job

    ev = n.evaluation.get_evaluation(reg["EvalID"])
    assert ev["JobID"] == "conf-web" and ev["TriggeredBy"] == "job-register", ev
    wait_for(
        lambda: n.evaluation.get_evaluation(reg["EvalID"])["Status"] == "complete",
        "the evaluation to complete",
    )
    assert reg["EvalID"] in [e["ID"] for e in n.job.get_evaluations("conf-web")]

    # The client starts each allocation on its own: wait for both to run.
    allocs = wait_for(
        lambda: (
            lambda running: running if len(running) == 2 else None
        )(
            [
                a
                for a in n.job.get_allocations("conf-web")
                if a["ClientStatus"] == "running"
            ]
        ),
        "running allocations",
    )
    assert len(allocs) == 2, allocs
    assert sorted(a["Name"] for a in allocs) == ["conf-web.cache[0]", "conf-web.cache[1]"], allocs
    for a in allocs:
        assert a["DesiredStatus"] == "run", a
        events = [e["Type"] for e in a["TaskStates"]["redis"]["Events"]]
        assert events[:3] == ["Received", "Task Setup", "Started"], events
    assert wait_for(lambda: n.job.get_job("conf-web")["Status"] == "running", "job running")
    assert "conf-web" in [j["ID"] for j in n.jobs.get_jobs()]

    # An updated spec is a new version.
    reg2 = n.job.register_job("conf-web", job_spec("conf-web", image="redis:7.2"))
    assert reg2["JobModifyIndex"] > reg["JobModifyIndex"], reg2
    versions = n.job.get_versions("conf-web")["Versions"]
    assert [v["Version"] for v in versions] == [1, 0], versions

    # Stop, then purge.
    dereg = n.job.deregister_job("conf-web")
    assert dereg["EvalID"], dereg
    stopped = wait_for(
        lambda: (lambda j: j if j["Status"] == "dead" else None)(n.job.get_job("conf-web")),
        "job dead",
    )
    assert stopped["Stop"] is True, stopped
    wait_for(
        lambda: all(
            a["DesiredStatus"] == "stop" for a in n.job.get_allocations("conf-web")
        ),
        "allocations stopped",
    )
    n.job.deregister_job("conf-web", purge=True)
    try:
        n.job.get_job("conf-web")
        raise AssertionError("purged job must be 404")
    except exceptions.URLNotFoundNomadException as e:
        assert e.nomad_resp.text == "job not found", e.nomad_resp.text

    # Registration errors.
    try:
        n.jobs.register_job({"ID": "unwrapped"})
        raise AssertionError("a body without the Job wrapper must be rejected")
    except exceptions.BadRequestNomadException as e:
        assert e.nomad_resp.text == "Job must be specified", e.nomad_resp.text

    # Cleanup so the namespace can go.
    n.variable.delete_variable("ns/var", namespace="conformance")
    n.namespace.delete_namespace("conformance")
    print("python-nomad conformance: ok")


if __name__ == "__main__":
    main()
