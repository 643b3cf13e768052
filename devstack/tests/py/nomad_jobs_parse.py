"""Drive `/v1/jobs/parse` with the third-party `python-nomad` client and assert the results.

Usage: python nomad_jobs_parse.py HOST:PORT

Written against the real Nomad contract (a `nomad agent -dev` with ACLs off): python-nomad's
`jobs.parse` sends `JobHCL` and `Canonicalize` only (no variables). Exits non-zero (with a
traceback) on the first failed check.
"""

import sys

import nomad
from nomad.api import exceptions

JOB = """
variable "image" {
  default = "redis:7"
}

job "pyjob" {
  datacenters = ["dc1"]

  group "cache" {
    count = 2

    network {
      port "db" {
        to = 6379
      }
    }

    service {
      name = "redis"
      port = "db"
    }

    task "redis" {
      driver = "docker"

      config {
        image = var.image
        ports = ["db"]
      }

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }
}
"""


def main() -> None:
    host, port = sys.argv[1].rsplit(":", 1)
    n = nomad.Nomad(host=host, port=int(port), timeout=10)

    # Not canonicalized: the job as written, durations and all unset pointers null.
    job = n.jobs.parse(JOB)
    assert job["ID"] == "pyjob", job
    assert job["Name"] == "pyjob", job
    assert job["Region"] is None, job["Region"]
    assert job["Type"] is None, job["Type"]
    group = job["TaskGroups"][0]
    assert group["Name"] == "cache" and group["Count"] == 2, group
    assert group["Networks"][0]["DynamicPorts"] == [
        {"Label": "db", "Value": 0, "To": 6379, "HostNetwork": "", "IgnoreCollision": False}
    ], group["Networks"]
    task = group["Tasks"][0]
    assert task["Config"] == {"image": "redis:7", "ports": ["db"]}, task["Config"]
    assert task["Resources"]["CPU"] == 100 and task["Resources"]["MemoryMB"] == 64, task

    # Canonicalized: api.Job.Canonicalize defaults.
    job = n.jobs.parse(JOB, canonicalize=True)
    assert job["Namespace"] == "default", job["Namespace"]
    assert job["Region"] == "global", job["Region"]
    assert job["Type"] == "service", job["Type"]
    assert job["Priority"] == 50, job["Priority"]
    assert job["Update"]["MaxParallel"] == 1, job["Update"]
    assert job["Update"]["MinHealthyTime"] == 10_000_000_000, job["Update"]
    svc = job["TaskGroups"][0]["Services"][0]
    assert svc["Provider"] == "consul" and svc["AddressMode"] == "auto", svc

    # The parsed job registers as is, wrapped in {"Job": ...}.
    reg = n.jobs.register_job({"Job": job})
    assert reg["EvalID"], reg
    stored = n.job.get_job("pyjob")
    assert stored["TaskGroups"][0]["Tasks"][0]["Config"]["image"] == "redis:7", stored

    # A jobspec error is a 400 with the positioned hcl diagnostic.
    try:
        n.jobs.parse('job "bad" {\n  group "g" {\n    tasks = 1\n  }\n}\n')
        raise AssertionError("an unsupported argument must fail")
    except exceptions.BadRequestNomadException as e:
        assert e.nomad_resp.status_code == 400, e.nomad_resp.status_code
        assert e.nomad_resp.text == (
            'Failed to parse job: input.hcl:3,5-10: Unsupported argument; '
            'An argument named "tasks" is not expected here.'
        ), e.nomad_resp.text

    # An empty jobspec.
    try:
        n.jobs.parse("")
        raise AssertionError("an empty jobspec must fail")
    except exceptions.BadRequestNomadException as e:
        assert e.nomad_resp.text == "Job spec is empty", e.nomad_resp.text

    print("ok")


if __name__ == "__main__":
    main()
