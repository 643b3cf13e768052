"""Drive Nomad's ACL API with the third-party `python-nomad` client and assert the results.

Usage: python nomad_acl.py HOST:PORT

Written against the real Nomad contract (a `nomad agent -dev` with `acl { enabled = true }`,
not bootstrapped): it must pass against the real agent as well as against the devstack
simulator. Exits non-zero (with a traceback) on the first failed check.
"""

import sys

import nomad
from nomad.api import exceptions


def expect(exc_type, fn, *args, text=None, **kwargs):
    """Calls fn and asserts it raises exc_type (with `text` in the body, if given)."""
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        body = getattr(e.nomad_resp, "text", str(e.nomad_resp))
        if text is not None:
            assert text in body, f"expected {text!r} in {body!r}"
        return body
    raise AssertionError(f"{fn.__qualname__} did not raise {exc_type.__name__}")


def job(job_id: str) -> dict:
    return {
        "Job": {
            "ID": job_id,
            "Name": job_id,
            "Type": "service",
            "Datacenters": ["dc1"],
            "TaskGroups": [
                {
                    "Name": "g",
                    "Count": 1,
                    "Tasks": [{"Name": "t", "Driver": "docker", "Config": {"image": "redis:7"}}],
                }
            ],
        }
    }


def main() -> None:
    host, port = sys.argv[1].rsplit(":", 1)
    anon = nomad.Nomad(host=host, port=int(port), timeout=10)

    # Bootstrap once; the second attempt is a 400 naming the reset index.
    boot = anon.acl.generate_bootstrap()
    assert boot["Type"] == "management", boot
    assert boot["Name"] == "Bootstrap Token", boot
    assert boot["Global"] is True, boot
    assert len(boot["SecretID"]) == 36 and len(boot["AccessorID"]) == 36, boot
    assert boot["CreateIndex"] > 0 and boot["CreateIndex"] == boot["ModifyIndex"], boot
    expect(
        exceptions.BadRequestNomadException,
        anon.acl.generate_bootstrap,
        text="ACL bootstrap already done (reset index: ",
    )

    mgmt = nomad.Nomad(host=host, port=int(port), timeout=10, token=boot["SecretID"])
    me = mgmt.acl.get_self_token()
    assert me["AccessorID"] == boot["AccessorID"], me

    # Anonymous callers are denied.
    expect(exceptions.URLNotAuthorizedNomadException, anon.jobs.get_jobs, text="Permission denied")
    expect(exceptions.URLNotAuthorizedNomadException, anon.acl.get_tokens)

    # Policies: create, read (with the parsed rules), list; invalid rules are a 400.
    rules = 'namespace "default" {\n  policy = "read"\n}\n'
    mgmt.acl.create_policy("readonly", {"Name": "readonly", "Description": "ro", "Rules": rules})
    pol = mgmt.acl.get_policy("readonly")
    assert pol["Rules"] == rules, pol
    assert pol["RulesJSON"]["Namespaces"][0]["Name"] == "default", pol
    assert "read-job" in pol["RulesJSON"]["Namespaces"][0]["Capabilities"], pol
    assert [p["Name"] for p in mgmt.acl.get_policies()] == ["readonly"]
    body = expect(
        exceptions.BadRequestNomadException,
        mgmt.acl.create_policy,
        "bad",
        {"Name": "bad", "Rules": 'namespace "default" { policy = "superuser" }'},
    )
    assert body.startswith("policy 0 invalid: 1 error occurred:"), body
    assert "Invalid namespace policy" in body, body
    expect(
        exceptions.BadRequestNomadException,
        mgmt.acl.create_policy,
        "other",
        {"Name": "mismatch", "Rules": rules},
        text="ACL policy name does not match request path",
    )
    expect(exceptions.URLNotFoundNomadException, mgmt.acl.get_policy, "missing", text="ACL policy not found")

    # A client token with the read-only policy.
    tok = mgmt.acl.create_token({"Name": "ro", "Type": "client", "Policies": ["readonly"]})
    assert tok["Type"] == "client" and tok["Policies"] == ["readonly"], tok
    ro = nomad.Nomad(host=host, port=int(port), timeout=10, token=tok["SecretID"])
    assert ro.acl.get_self_token()["AccessorID"] == tok["AccessorID"]
    assert ro.acl.get_token(tok["AccessorID"])["Name"] == "ro"
    expect(exceptions.URLNotAuthorizedNomadException, ro.acl.get_token, boot["AccessorID"])
    expect(exceptions.BadRequestNomadException, mgmt.acl.create_token, {"Name": "x", "Type": "client"},
           text="client token missing policies or roles")

    # Enforcement: the management token submits, the read-only token reads but cannot submit.
    mgmt.jobs.register_job(job("web"))
    assert [j["ID"] for j in ro.jobs.get_jobs()] == ["web"]
    assert ro.job.get_job("web")["ID"] == "web"
    expect(exceptions.URLNotAuthorizedNomadException, ro.jobs.register_job, job("evil"), text="Permission denied")
    expect(exceptions.URLNotAuthorizedNomadException, ro.variable.get_variable, "app/x")

    # Update, list and delete tokens.
    tok["Name"] = "ro-renamed"
    upd = mgmt.acl.update_token(tok["AccessorID"], tok)
    assert upd["Name"] == "ro-renamed" and upd["SecretID"] == tok["SecretID"], upd
    assert upd["ModifyIndex"] > upd["CreateIndex"], upd
    accessors = {t["AccessorID"] for t in mgmt.acl.get_tokens()}
    assert accessors == {boot["AccessorID"], tok["AccessorID"]}, accessors
    assert mgmt.acl.delete_token(tok["AccessorID"])
    expect(exceptions.URLNotAuthorizedNomadException, ro.jobs.get_jobs)
    expect(exceptions.URLNotFoundNomadException, mgmt.acl.get_token, tok["AccessorID"], text="ACL token not found")
    assert mgmt.acl.delete_policy("readonly")
    assert mgmt.acl.get_policies() == []
    print("ok")


if __name__ == "__main__":
    main()
