"""Drive a Consul agent with ACLs enabled (default deny, not bootstrapped) through the
third-party `py-consul` client and assert the results.

Usage: python consul_acl.py HOST:PORT

Written against the real Consul contract (`consul agent -dev` with `acl { enabled = true
default_policy = "deny" }`): it must pass there as well as against the devstack simulator.
"""

import re
import sys

import consul
from consul.exceptions import ACLPermissionDenied


def main() -> None:
    host, port = sys.argv[1].rsplit(":", 1)
    anon = consul.Consul(host=host, port=int(port), token=None)

    # --- bootstrap once
    boot = anon.acl.bootstrap()
    mgmt = boot["SecretID"]
    assert boot["Description"] == "Bootstrap Token (Global Management)", boot
    assert boot["Policies"] == [
        {"ID": "00000000-0000-0000-0000-000000000001", "Name": "global-management"}
    ], boot
    assert boot["Local"] is False, boot
    for k in ("AccessorID", "CreateIndex", "ModifyIndex", "Hash", "CreateTime"):
        assert k in boot, (k, boot)
    try:
        anon.acl.bootstrap()
        raise AssertionError("second bootstrap succeeded")
    except ACLPermissionDenied as e:
        assert re.search(r"ACL bootstrap no longer allowed \(reset index: \d+\)", str(e)), e

    c = consul.Consul(host=host, port=int(port), token=mgmt)
    me = c.acl.token.read_self()
    assert me["AccessorID"] == boot["AccessorID"] and me["SecretID"] == mgmt, me

    # --- the anonymous token is denied (default deny)
    try:
        anon.kv.put("app/x", "v")
        raise AssertionError("anonymous write allowed")
    except ACLPermissionDenied as e:
        assert "anonymous token lacks permission 'key:write' on \"app/x\"" in str(e), e

    # --- a policy on key_prefix "app/" (py-consul sends JSON rules)
    pol = c.acl.policy.create(
        name="app-writer",
        description="app keys",
        rules={"key_prefix": {"app/": {"policy": "write"}}},
    )
    assert pol["Name"] == "app-writer" and pol["ID"], pol
    assert pol["CreateIndex"] == pol["ModifyIndex"], pol
    assert c.acl.policy.read(pol["ID"])["Rules"] == pol["Rules"]
    names = {p["Name"] for p in c.acl.policy.list()}
    assert {"global-management", "app-writer"} <= names, names
    # A 404 ("Requested policy does not exist: ACL not found"): py-consul answers None.
    assert c.acl.policy.read("6a4b8ba4-b2ec-4e7d-9d5b-8a1c2b3c4d5e") is None

    tok = c.acl.token.create(description="app", policies_id=[pol["ID"]])
    assert tok["Policies"] == [{"ID": pol["ID"], "Name": "app-writer"}], tok
    assert tok["Description"] == "app" and tok["Local"] is False, tok
    read = c.acl.token.read(tok["AccessorID"])
    assert read["SecretID"] == tok["SecretID"], read
    assert tok["AccessorID"] in {t["AccessorID"] for t in c.acl.token.list()}

    app = consul.Consul(host=host, port=int(port), token=tok["SecretID"])
    assert app.kv.put("app/x", "hello") is True
    assert app.kv.get("app/x")[1]["Value"] == b"hello"
    try:
        app.kv.put("other/x", "nope")
        raise AssertionError("write outside app/ allowed")
    except ACLPermissionDenied as e:
        assert (
            f"token with AccessorID '{tok['AccessorID']}' lacks permission 'key:write' on \"other/x\""
            in str(e)
        ), e
    # The app token cannot manage ACLs.
    try:
        app.acl.policy.list()
        raise AssertionError("acl read allowed")
    except ACLPermissionDenied as e:
        assert "lacks permission 'acl:read'" in str(e), e

    # --- an unknown secret is "ACL not found"
    ghost = consul.Consul(host=host, port=int(port), token="5f5a1a8e-0000-4000-8000-000000000000")
    try:
        ghost.kv.get("app/x")
        raise AssertionError("unknown token allowed")
    except ACLPermissionDenied as e:
        assert "ACL not found" in str(e), e

    # --- delete
    assert c.acl.token.delete(tok["AccessorID"]) is True
    assert c.acl.policy.delete(pol["ID"]) is True
    print("ok")


if __name__ == "__main__":
    main()
