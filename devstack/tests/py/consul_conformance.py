"""Drive a Consul HTTP API with the third-party `py-consul` client and assert the results.

Usage: python consul_conformance.py HOST:PORT

Written against the real Consul contract: it must pass against `consul agent -dev` as well as
against the devstack simulator. Exits non-zero (with a traceback) on the first failed check.
"""

import sys
import threading
import time

import consul


def main() -> None:
    host, port = sys.argv[1].rsplit(":", 1)
    c = consul.Consul(host=host, port=int(port))

    # --- status / agent
    leader = c.status.leader()
    assert isinstance(leader, str) and leader, leader
    peers = c.status.peers()
    assert leader in peers, (leader, peers)
    me = c.agent.self()
    assert me["Config"]["Datacenter"] == "dc1", me["Config"]
    assert me["Config"]["NodeName"], me["Config"]
    assert me["Config"]["Version"], me["Config"]

    # --- KV put/get
    assert c.kv.put("conf/app/a", "one") is True
    index, entry = c.kv.get("conf/app/a")
    assert entry["Value"] == b"one", entry
    assert entry["Key"] == "conf/app/a"
    assert entry["Flags"] == 0 and entry["LockIndex"] == 0
    assert entry["CreateIndex"] == entry["ModifyIndex"] == int(index), (entry, index)
    assert c.kv.put("conf/app/flagged", "x", flags=42) is True
    assert c.kv.get("conf/app/flagged")[1]["Flags"] == 42
    assert c.kv.put("conf/app/empty", None) is True
    assert c.kv.get("conf/app/empty")[1]["Value"] is None

    # --- CAS
    modify = entry["ModifyIndex"]
    assert c.kv.put("conf/app/a", "two", cas=modify + 1000) is False
    assert c.kv.put("conf/app/a", "two", cas=0) is False, "cas=0 must not overwrite"
    assert c.kv.put("conf/app/a", "two", cas=modify) is True
    _, entry2 = c.kv.get("conf/app/a")
    assert entry2["Value"] == b"two"
    assert entry2["CreateIndex"] == entry["CreateIndex"]
    assert entry2["ModifyIndex"] > modify
    assert c.kv.put("conf/app/a", "three", cas=modify) is False, "stale cas must fail"
    assert c.kv.put("conf/app/new", "n", cas=0) is True, "cas=0 creates"

    # --- recurse / keys
    assert c.kv.put("conf/app/sub/x", "sx") is True
    _, many = c.kv.get("conf/app/", recurse=True)
    keys = [e["Key"] for e in many]
    assert keys == sorted(keys), keys
    assert set(keys) == {
        "conf/app/a",
        "conf/app/flagged",
        "conf/app/empty",
        "conf/app/new",
        "conf/app/sub/x",
    }, keys
    _, listed = c.kv.get("conf/app/", keys=True, separator="/")
    assert listed == [
        "conf/app/a",
        "conf/app/empty",
        "conf/app/flagged",
        "conf/app/new",
        "conf/app/sub/",
    ], listed

    # --- missing key: (index, None), index still set
    index, missing = c.kv.get("conf/nope")
    assert missing is None
    assert int(index) > 0, index

    # --- blocking query returns early on a write
    index, _ = c.kv.get("conf/app/a")

    def later_write() -> None:
        time.sleep(0.5)
        c.kv.put("conf/app/a", "blocked-write")

    t = threading.Thread(target=later_write)
    t.start()
    started = time.monotonic()
    new_index, entry = c.kv.get("conf/app/a", index=index, wait="5s")
    elapsed = time.monotonic() - started
    t.join()
    assert entry["Value"] == b"blocked-write", entry
    assert int(new_index) > int(index)
    assert 0.3 < elapsed < 3.0, elapsed

    # --- blocking query times out after wait (+ at most wait/16 jitter) without a write
    started = time.monotonic()
    same_index, entry = c.kv.get("conf/app/a", index=new_index, wait="1s")
    elapsed = time.monotonic() - started
    assert same_index == new_index, (same_index, new_index)
    assert 0.95 <= elapsed < 1.5, elapsed

    # --- delete
    _, e = c.kv.get("conf/app/new")
    assert c.kv.delete("conf/app/new", cas=e["ModifyIndex"] + 1000) is False
    assert c.kv.get("conf/app/new")[1] is not None
    assert c.kv.delete("conf/app/new", cas=e["ModifyIndex"]) is True
    assert c.kv.get("conf/app/new")[1] is None
    assert c.kv.delete("conf/app/a") is True
    assert c.kv.get("conf/app/a")[1] is None
    assert c.kv.delete("conf/app/", recurse=True) is True
    assert c.kv.get("conf/app/", recurse=True)[1] is None

    # --- agent service register, catalog, health
    assert c.agent.service.register(
        "web",
        service_id="web-1",
        address="127.0.0.1",
        port=8080,
        tags=["v1"],
        meta={"team": "core"},
        check=consul.Check.ttl("30s"),
    ) is True
    assert c.agent.service.register(
        "web",
        service_id="web-2",
        address="127.0.0.1",
        port=8081,
        tags=["v2"],
        check={"TTL": "30s", "Status": "passing"},
    ) is True
    services = c.agent.services()
    assert services["web-1"]["Service"] == "web", services
    assert services["web-1"]["Port"] == 8080
    assert services["web-1"]["Meta"] == {"team": "core"}

    index, catalog = c.catalog.services()
    assert "consul" in catalog, catalog
    assert sorted(catalog["web"]) == ["v1", "v2"], catalog
    assert int(index) > 0

    _, nodes = c.catalog.service("web")
    by_id = {n["ServiceID"]: n for n in nodes}
    assert set(by_id) == {"web-1", "web-2"}, by_id
    assert by_id["web-1"]["ServicePort"] == 8080
    assert by_id["web-1"]["ServiceTags"] == ["v1"]
    assert by_id["web-1"]["ServiceAddress"] == "127.0.0.1"
    _, tagged = c.catalog.service("web", tag="v2")
    assert [n["ServiceID"] for n in tagged] == ["web-2"], tagged

    _, health = c.health.service("web")
    assert len(health) == 2, health
    for entry in health:
        assert entry["Node"]["Node"], entry
        check_ids = {ch["CheckID"] for ch in entry["Checks"]}
        assert "serfHealth" in check_ids, check_ids
        assert "service:" + entry["Service"]["ID"] in check_ids, check_ids
    web1 = next(e for e in health if e["Service"]["ID"] == "web-1")
    svc_check = next(ch for ch in web1["Checks"] if ch["CheckID"] == "service:web-1")
    assert svc_check["Status"] == "critical", svc_check
    assert svc_check["ServiceName"] == "web"
    _, passing = c.health.service("web", passing=True)
    assert [e["Service"]["ID"] for e in passing] == ["web-2"], passing

    _, nothing = c.health.service("does-not-exist")
    assert nothing == [], nothing
    _, nothing = c.catalog.service("does-not-exist")
    assert nothing == [], nothing

    assert c.agent.service.deregister("web-1") is True
    assert c.agent.service.deregister("web-1") is False, "unknown service id is a 404"
    _, nodes = c.catalog.service("web")
    assert [n["ServiceID"] for n in nodes] == ["web-2"], nodes
    assert c.agent.service.deregister("web-2") is True
    _, catalog = c.catalog.services()
    assert "web" not in catalog, catalog

    # --- Connect sidecar: the agent registers <id>-sidecar-proxy and removes it with the parent
    assert c.agent.service.register("api", service_id="api-1", port=9090, connect={"SidecarService": {}}) is True
    _, proxies = c.catalog.service("api-sidecar-proxy")
    assert len(proxies) == 1, proxies
    proxy = proxies[0]
    assert proxy["ServiceKind"] == "connect-proxy", proxy
    assert proxy["ServiceID"] == "api-1-sidecar-proxy", proxy
    assert 21000 <= proxy["ServicePort"] <= 21255, proxy
    assert proxy["ServiceProxy"]["DestinationServiceName"] == "api", proxy
    assert proxy["ServiceProxy"]["DestinationServiceID"] == "api-1", proxy
    assert proxy["ServiceProxy"]["LocalServicePort"] == 9090, proxy
    _, health = c.health.service("api-sidecar-proxy")
    names = sorted(ch["Name"] for ch in health[0]["Checks"] if ch["ServiceID"])
    assert names == ["Connect Sidecar Aliasing api-1", "Connect Sidecar Listening"], names
    assert c.agent.service.deregister("api-1") is True
    _, proxies = c.catalog.service("api-sidecar-proxy")
    assert proxies == [], proxies

    print("py-consul conformance: OK")


if __name__ == "__main__":
    main()
