"""Drive a Consul agent's Connect CA through the third-party `py-consul` client and assert
the results.

Usage: python consul_connect_ca.py HOST:PORT

Written against the real Consul contract (`consul agent -dev`, ACLs off): it must pass there
as well as against the devstack simulator.
"""

import sys

import consul
from consul.exceptions import ConsulException


def main() -> None:
    host, port = sys.argv[1].rsplit(":", 1)
    c = consul.Consul(host=host, port=int(port))

    roots = c.connect.ca.roots()
    assert roots["TrustDomain"].endswith(".consul"), roots
    active = [r for r in roots["Roots"] if r["Active"]]
    assert len(active) == 1 and active[0]["ID"] == roots["ActiveRootID"], roots
    root = active[0]
    assert root["RootCert"].startswith("-----BEGIN CERTIFICATE-----"), root
    assert root["Name"] == "Consul CA Primary Cert", root
    assert root["PrivateKeyType"] == "ec" and root["PrivateKeyBits"] == 256, root
    assert c.agent.connect.ca.roots()["ActiveRootID"] == roots["ActiveRootID"]

    conf = c.connect.ca.configuration()
    assert conf["Provider"] == "consul", conf
    assert "LeafCertTTL" in conf["Config"], conf
    create = conf["CreateIndex"]

    # A TTL change keeps the root.
    assert c.connect.ca.update_configuration("consul", {"LeafCertTTL": "36h"}) is True
    conf = c.connect.ca.configuration()
    assert conf["Config"] == {"LeafCertTTL": "36h"}, conf
    assert conf["CreateIndex"] == create and conf["ModifyIndex"] > create, conf
    assert c.connect.ca.roots()["ActiveRootID"] == roots["ActiveRootID"]

    # Validation errors come back as 500 with Consul's text.
    try:
        c.connect.ca.update_configuration("consul", {"LeafCertTTL": "10m"})
        raise AssertionError("a 10m leaf TTL was accepted")
    except ConsulException as e:
        assert "leaf cert TTL must be greater or equal than 1h0m0s" in str(e), e
    try:
        c.connect.ca.update_configuration("nope", {})
        raise AssertionError("an unknown provider was accepted")
    except ConsulException as e:
        assert 'unknown CA provider "nope"' in str(e), e

    # A new key type rotates the root; the old one stays, inactive.
    assert c.connect.ca.update_configuration(
        "consul", {"LeafCertTTL": "36h", "PrivateKeyType": "rsa", "PrivateKeyBits": 2048}
    )
    rotated = c.connect.ca.roots()
    assert rotated["ActiveRootID"] != roots["ActiveRootID"], rotated
    assert len(rotated["Roots"]) == 2, rotated
    new = [r for r in rotated["Roots"] if r["Active"]][0]
    assert new["PrivateKeyType"] == "rsa" and new["PrivateKeyBits"] == 2048, new

    leaf = c.agent.connect.ca.leaf("web")
    assert leaf["Service"] == "web", leaf
    assert leaf["ServiceURI"] == "spiffe://%s/ns/default/dc/dc1/svc/web" % roots["TrustDomain"], leaf
    for k in ("CertPEM", "PrivateKeyPEM", "SerialNumber", "ValidAfter", "ValidBefore", "ModifyIndex"):
        assert leaf.get(k), (k, leaf)

    print("ok")


if __name__ == "__main__":
    main()
