"""Drive config entries and intentions of a Consul agent (ACLs off) through the third-party
`py-consul` client and assert the results.

Usage: python consul_config_entries.py HOST:PORT

Written against the real Consul contract (`consul agent -dev`): it must pass there as well
as against the devstack simulator.
"""

import sys

import consul
from consul.exceptions import BadRequest, ConsulException


def main() -> None:
    host, port = sys.argv[1].rsplit(":", 1)
    c = consul.Consul(host=host, port=int(port), token=None)

    # --- service-defaults with CAS
    assert c.config.set("service-defaults", "web", {"Protocol": "http"}, cas=0) is True
    assert c.config.set("service-defaults", "web", {"Protocol": "grpc"}, cas=0) is False
    web = c.config.get("service-defaults", "web")
    assert web["Kind"] == "service-defaults" and web["Name"] == "web", web
    assert web["Protocol"] == "http", web
    assert web["CreateIndex"] == web["ModifyIndex"] > 0, web
    idx = web["ModifyIndex"]
    assert c.config.set("service-defaults", "web", {"Protocol": "grpc"}, cas=idx + 1000) is False
    assert c.config.set("service-defaults", "web", {"Protocol": "grpc"}, cas=idx) is True
    web2 = c.config.get("service-defaults", "web")
    assert web2["Protocol"] == "grpc", web2
    assert web2["CreateIndex"] == idx and web2["ModifyIndex"] > idx, web2

    assert c.config.set("service-defaults", "api", {"Protocol": "tcp"}) is True
    names = sorted(e["Name"] for e in c.config.list("service-defaults"))
    assert names == ["api", "web"], names
    assert c.config.list("proxy-defaults") == [], "no proxy-defaults yet"

    # Missing entries: py-consul maps the 404 to None.
    assert c.config.get("service-defaults", "nope") is None

    # Bad payloads.
    try:
        c.config.set("service-defaults", "web", {"Protocl": "http"})
        raise AssertionError("unknown key accepted")
    except BadRequest as e:
        assert 'invalid config key \\"Protocl\\"' in str(e) or 'invalid config key "Protocl"' in str(e), e
    try:
        c.config.set("proxy-defaults", "web", {"Config": {}})
        raise AssertionError("proxy-defaults named web accepted")
    except ConsulException as e:
        assert '500 invalid name ("web"), only "global" is supported' in str(e), e

    # --- proxy-defaults
    assert c.config.set("proxy-defaults", "global", {"Config": {"protocol": "http"}}) is True
    pd = c.config.get("proxy-defaults", "global")
    assert pd["Config"] == {"protocol": "http"}, pd

    # --- delete with and without CAS
    api = c.config.get("service-defaults", "api")
    assert c.config.delete("service-defaults", "api", cas=api["ModifyIndex"] + 1000) is False
    assert c.config.delete("service-defaults", "api", cas=api["ModifyIndex"]) is True
    assert c.config.get("service-defaults", "api") is None
    assert c.config.delete("service-defaults", "web") is True
    assert c.config.get("service-defaults", "web") is None

    # --- intentions (exact-match API) backed by service-intentions entries
    ixns = c.connect.intentions
    assert ixns.check("web", "db") is True, "ACLs off: default allow"
    assert ixns.upsert("*", "db", action="deny") is True
    assert ixns.upsert("web", "db", action="allow", description="web may call db") is True
    got = ixns.read("web", "db")
    assert got["SourceName"] == "web" and got["DestinationName"] == "db", got
    assert got["Action"] == "allow" and got["Precedence"] == 9, got
    assert got["Description"] == "web may call db", got
    assert ixns.read("api", "db") is None

    assert ixns.check("web", "db") is True
    assert ixns.check("api", "db") is False

    entry = c.config.get("service-intentions", "db")
    srcs = [(s["Name"], s["Action"], s["Precedence"], s["Type"]) for s in entry["Sources"]]
    assert srcs == [("web", "allow", 9, "consul"), ("*", "deny", 8, "consul")], srcs

    # A config entry write is visible through the intentions API.
    assert c.config.set(
        "service-intentions",
        "cache",
        {"Sources": [{"Name": "web", "Action": "allow"}, {"Name": "api", "Action": "deny"}]},
    ) is True
    assert ixns.read("api", "cache")["Action"] == "deny"
    assert ixns.check("web", "cache") is True
    assert ixns.check("api", "cache") is False

    m = ixns.match("destination", "db")
    assert [i["SourceName"] for i in m["db"]] == ["web", "*"], m
    m = ixns.match("source", "web")
    assert sorted(i["DestinationName"] for i in m["web"]) == ["cache", "db", "db"], m
    listed = ixns.list()
    assert len(listed) == 4, listed

    assert ixns.delete("web", "db") is True
    assert ixns.read("web", "db") is None
    assert [s["Name"] for s in c.config.get("service-intentions", "db")["Sources"]] == ["*"]
    assert ixns.delete("*", "db") is True
    assert c.config.get("service-intentions", "db") is None
    print("ok")


if __name__ == "__main__":
    main()
