//! Config entries and intentions in the Consul simulator: the third-party `py-consul`
//! client drives them (tests/py/consul_config_entries.py), and direct HTTP checks pin
//! Consul's status codes, texts, CAS and index semantics, ACLs and intention precedence.

mod common;

use std::time::{Duration, Instant};

use common::{client, consul_call, consul_sim as sim, json, run_python};
use serde_json::{json, Value};
use stack_devstack::consul::ConsulSimHandle;

struct Api {
    c: reqwest::Client,
    base: String,
}

/// Status, body and headers of a response.
type Out = (u16, String, reqwest::header::HeaderMap);

impl Api {
    fn new(h: &ConsulSimHandle) -> Api {
        Api {
            c: client(),
            base: h.url(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<String>,
    ) -> Out {
        consul_call(&self.c, method, format!("{}{path}", self.base), token, body).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Out {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Out {
        self.call(reqwest::Method::PUT, path, token, Some(body.to_string()))
            .await
    }

    async fn put_raw(&self, path: &str, body: &str) -> Out {
        self.call(reqwest::Method::PUT, path, None, Some(body.to_string()))
            .await
    }

    async fn delete(&self, path: &str, token: Option<&str>) -> Out {
        self.call(reqwest::Method::DELETE, path, token, None).await
    }
}

fn index(h: &reqwest::header::HeaderMap) -> u64 {
    h["X-Consul-Index"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("X-Consul-Index is a number")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_consul_config_entries_conformance() {
    let h = sim(false).await;
    run_python(
        "py-consul",
        "consul_config_entries.py",
        h.addr().to_string(),
        30,
        &["CONSUL_HTTP_TOKEN", "CONSUL_HTTP_ADDR"],
        "config entry conformance",
    )
    .await;
}

#[tokio::test]
async fn cas_and_indexes() {
    let h = sim(false).await;
    let a = Api::new(&h);
    let web = json!({"Kind": "service-defaults", "Name": "web", "Protocol": "HTTP"});

    // cas=0 creates only.
    let (s, b, _) = a.put("/v1/config?cas=0", None, web.clone()).await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let (s, b, _) = a
        .put(
            "/v1/config?cas=0",
            None,
            json!({"Kind": "service-defaults", "Name": "web", "Protocol": "tcp"}),
        )
        .await;
    assert_eq!((s, b.as_str()), (200, "false"));
    // Consul skips a write that would change nothing, and answers true even under a
    // failing CAS (`shouldSkipUpsertOperation` runs before the CAS check).
    let (s, b, _) = a.put("/v1/config?cas=0", None, web.clone()).await;
    assert_eq!((s, b.as_str()), (200, "true"));

    let (s, b, hd) = a.get("/v1/config/service-defaults/web", None).await;
    assert_eq!(s, 200, "{b}");
    let e = json(&b);
    assert_eq!(e["Kind"], "service-defaults");
    assert_eq!(e["Protocol"], "http", "Normalize lowercases the protocol");
    assert_eq!(e["TransparentProxy"], json!({}));
    assert_eq!(e["MeshGateway"], json!({}));
    assert_eq!(e["Expose"], json!({}));
    assert!(e["Hash"].as_u64().is_some_and(|x| x > 0), "{e}");
    let created = e["CreateIndex"].as_u64().expect("CreateIndex");
    assert_eq!(e["ModifyIndex"].as_u64(), Some(created));
    assert_eq!(index(&hd), created);
    assert_eq!(hd["X-Consul-KnownLeader"], "true");

    // An identical upsert is skipped: no new index.
    let (s, b, _) = a.put("/v1/config", None, web.clone()).await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let (_, b, _) = a.get("/v1/config/service-defaults/web", None).await;
    assert_eq!(json(&b)["ModifyIndex"].as_u64(), Some(created));

    // CAS mismatch is a 200 false; the matching index updates.
    let grpc = json!({"Kind": "service-defaults", "Name": "web", "Protocol": "grpc"});
    let (s, b, _) = a
        .put(
            &format!("/v1/config?cas={}", created + 100),
            None,
            grpc.clone(),
        )
        .await;
    assert_eq!((s, b.as_str()), (200, "false"));
    let (s, b, _) = a
        .put(&format!("/v1/config?cas={created}"), None, grpc.clone())
        .await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let (_, b, _) = a.get("/v1/config/service-defaults/web", None).await;
    let e = json(&b);
    assert_eq!(e["Protocol"], "grpc");
    assert_eq!(e["CreateIndex"].as_u64(), Some(created));
    let modified = e["ModifyIndex"].as_u64().expect("ModifyIndex");
    assert!(modified > created);

    // A bad cas value is strconv's error, a 500.
    let (s, b, _) = a.put("/v1/config?cas=abc", None, grpc.clone()).await;
    assert_eq!(
        (s, b.as_str()),
        (500, "strconv.ParseUint: parsing \"abc\": invalid syntax")
    );

    // List.
    let (s, b, hd) = a.get("/v1/config/service-defaults", None).await;
    assert_eq!(s, 200);
    let list = json(&b);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(index(&hd), modified);
    let (s, b, _) = a.get("/v1/config/proxy-defaults", None).await;
    assert_eq!((s, b.as_str()), (200, "[]"));

    // DELETE with cas answers a bool, without it `{}`.
    let (s, b, _) = a
        .delete("/v1/config/service-defaults/web?cas=1", None)
        .await;
    assert_eq!((s, b.as_str()), (200, "false"));
    let (s, b, _) = a
        .delete(
            &format!("/v1/config/service-defaults/web?cas={modified}"),
            None,
        )
        .await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let (s, b, hd) = a.get("/v1/config/service-defaults/web", None).await;
    assert_eq!(
        (s, b.as_str()),
        (
            404,
            "Config entry not found for \"service-defaults\" / \"web\""
        )
    );
    assert!(index(&hd) > modified, "the delete moved the table index");
    // Deleting what is not there succeeds (with cas too).
    let (s, b, _) = a
        .delete("/v1/config/service-defaults/web?cas=5", None)
        .await;
    assert_eq!((s, b.as_str()), (200, "true"));
    a.put("/v1/config", None, web.clone()).await;
    let (s, b, _) = a.delete("/v1/config/service-defaults/web", None).await;
    assert_eq!((s, b.as_str()), (200, "{}"));
}

#[tokio::test]
async fn validation_and_error_texts() {
    let h = sim(false).await;
    let a = Api::new(&h);
    let dec = "Request decoding failed: ";
    let cases: Vec<(Value, u16, String)> = vec![
        (
            json!({"Name": "web"}),
            400,
            format!("{dec}Payload does not contain a kind/Kind key at the top level"),
        ),
        (
            json!({"Kind": 7, "Name": "web"}),
            400,
            format!("{dec}Kind value in payload is not a string"),
        ),
        (
            json!({"Kind": "service-default", "Name": "web"}),
            400,
            format!("{dec}invalid config entry kind: service-default"),
        ),
        // Consul rejects keys the entry does not have.
        (
            json!({"Kind": "service-defaults", "Name": "web", "Protocl": "http"}),
            400,
            format!("{dec}1 error occurred:\n\t* invalid config key \"Protocl\"\n\n"),
        ),
        (
            json!({"Kind": "service-defaults", "Name": "web", "Namespace": "team"}),
            400,
            format!("{dec}1 error occurred:\n\t* invalid config key \"Namespace\", namespaces are a consul enterprise feature\n\n"),
        ),
        (
            json!({"Kind": "service-defaults", "Name": "web", "Protocol": ["a", "b"]}),
            400,
            format!("{dec}1 error(s) decoding:\n\n* 'Protocol' expected type 'string', got unconvertible type '[]interface {{}}', value: '[a b]'"),
        ),
        (
            json!({"Kind": "service-defaults", "Name": "web", "MaxInboundConnections": "lots"}),
            400,
            format!("{dec}1 error(s) decoding:\n\n* cannot parse 'MaxInboundConnections' as int: strconv.ParseInt: parsing \"lots\": invalid syntax"),
        ),
        // mesh has no Name field at all.
        (
            json!({"Kind": "mesh", "Name": "mesh"}),
            400,
            format!("{dec}1 error occurred:\n\t* invalid config key \"Name\"\n\n"),
        ),
        // Validation errors come back from the RPC as 500s.
        (
            json!({"Kind": "service-defaults"}),
            500,
            "Name is required".into(),
        ),
        (
            json!({"Kind": "service-defaults", "Name": "*"}),
            500,
            "service-defaults name must be the name of a service, and not a wildcard".into(),
        ),
        (
            json!({"Kind": "service-defaults", "Name": "web", "MutualTLSMode": "loose"}),
            500,
            "Invalid MutualTLSMode \"loose\". Must be one of \"\", \"strict\", or \"permissive\".".into(),
        ),
        (
            json!({"Kind": "proxy-defaults", "Name": "web"}),
            500,
            "invalid name (\"web\"), only \"global\" is supported".into(),
        ),
        (
            json!({"Kind": "service-intentions", "Name": "db"}),
            500,
            "At least one source is required".into(),
        ),
        (
            json!({"Kind": "service-intentions", "Name": "db", "Sources": [{"Name": "web", "Action": "permit"}]}),
            500,
            "Sources[0].Action must be set to 'allow' or 'deny'".into(),
        ),
        (
            json!({"Kind": "service-intentions", "Name": "db", "Sources": [{"Name": "web", "Action": "allow"}, {"Name": "web", "Action": "deny"}]}),
            500,
            "Sources[1] defines \"web\" more than once".into(),
        ),
        (
            json!({"Kind": "service-intentions", "Name": "db*", "Sources": [{"Name": "web", "Action": "allow"}]}),
            500,
            "Name: wildcard character '*' cannot be used with partial values".into(),
        ),
        (
            json!({"Kind": "service-intentions", "Name": "*", "Sources": [{"Name": "web", "Permissions": [{"Action": "allow", "HTTP": {"PathPrefix": "/"}}]}]}),
            500,
            "Sources[0].Permissions cannot be specified on intentions with wildcarded destinations".into(),
        ),
        (
            json!({"Kind": "service-intentions", "Name": "db", "Sources": [{"Name": "web", "Permissions": [{"Action": "allow", "HTTP": {"PathPrefix": "api"}}]}]}),
            500,
            "Sources[0].Permissions[0].HTTP.PathPrefix doesn't start with '/': \"api\"".into(),
        ),
    ];
    for (body, status, want) in cases {
        let (s, b, _) = a.put("/v1/config", None, body.clone()).await;
        assert_eq!((s, b.as_str()), (status, want.as_str()), "{body}");
    }
    let (s, b, _) = a.put_raw("/v1/config", "").await;
    assert_eq!((s, b.as_str()), (400, "Request decoding failed: EOF"));
    let (s, b, _) = a.put_raw("/v1/config", "[1]").await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b.starts_with("Request decoding failed: json: cannot unmarshal array"),
        "{b}"
    );
    let (s, b, _) = a.put_raw("/v1/config", "{\"Kind\": \"mesh\",}").await;
    assert_eq!(
        (s, b.as_str()),
        (
            400,
            "Request decoding failed: invalid character '}' looking for beginning of object key string"
        )
    );
    let (s, b, _) = a.put_raw("/v1/config", "null").await;
    assert_eq!(
        (s, b.as_str()),
        (
            400,
            "Request decoding failed: Payload does not contain a kind/Kind key at the top level"
        )
    );
    let (s, b, _) = a
        .put_raw(
            "/v1/connect/intentions/exact?source=web&destination=db",
            "{action: allow}",
        )
        .await;
    assert_eq!(
        (s, b.as_str()),
        (
            400,
            "Request decode failed: invalid character 'a' looking for beginning of object key string"
        )
    );
    // Nothing invalid was stored.
    let (_, b, _) = a.get("/v1/config/service-intentions", None).await;
    assert_eq!(b, "[]");

    // Unknown kinds on read and delete.
    let (s, b, _) = a.get("/v1/config/nope/x", None).await;
    assert_eq!((s, b.as_str()), (500, "invalid config entry kind: nope"));
    let (s, b, _) = a.get("/v1/config/nope", None).await;
    assert_eq!((s, b.as_str()), (500, "invalid config entry kind: nope"));
    let (s, b, _) = a.delete("/v1/config/nope/x", None).await;
    assert_eq!((s, b.as_str()), (400, "invalid config entry kind: nope"));
    let (s, b, _) = a.delete("/v1/config/service-defaults", None).await;
    assert_eq!(
        (s, b.as_str()),
        (404, "Must provide both a kind and name to delete")
    );
    let (s, _, hd) = a
        .call(reqwest::Method::POST, "/v1/config", None, None)
        .await;
    assert_eq!(s, 405);
    assert_eq!(hd["Allow"], "OPTIONS,PUT");

    // proxy-defaults without a name becomes "global"; snake_case keys are accepted.
    let (s, b, _) = a
        .put(
            "/v1/config",
            None,
            json!({"kind": "proxy-defaults", "config": {"protocol": "http"}, "mesh_gateway": {"mode": "local"}}),
        )
        .await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let (s, b, _) = a.get("/v1/config/proxy-defaults/global", None).await;
    assert_eq!(s, 200, "{b}");
    let e = json(&b);
    assert_eq!(e["Name"], "global");
    assert_eq!(e["Config"], json!({"protocol": "http"}));
    assert_eq!(e["MeshGateway"], json!({"Mode": "local"}));
    assert!(e.get("Protocol").is_none(), "Protocol is json:\"-\": {e}");

    // mesh: no Name on write or read; always addressed as mesh/mesh.
    let (s, b, _) = a
        .put(
            "/v1/config",
            None,
            json!({"Kind": "mesh", "TransparentProxy": {"MeshDestinationsOnly": true}}),
        )
        .await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let (s, b, _) = a.get("/v1/config/mesh/mesh", None).await;
    assert_eq!(s, 200, "{b}");
    let e = json(&b);
    assert_eq!(e["Kind"], "mesh");
    assert!(e.get("Name").is_none(), "{e}");
    assert_eq!(e["TransparentProxy"]["MeshDestinationsOnly"], true);
    let (s, _, _) = a.get("/v1/config/mesh/other", None).await;
    assert_eq!(s, 404);

    // Intention sources get the server-set fields and are sorted by precedence.
    let (s, b, _) = a
        .put(
            "/v1/config",
            None,
            json!({"Kind": "service-intentions", "Name": "db", "Sources": [
                {"Name": "*", "Action": "deny"},
                {"Name": "web", "Permissions": [{"Action": "allow", "HTTP": {"PathPrefix": "/v1", "Methods": ["get"]}}]},
            ]}),
        )
        .await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let (_, b, _) = a.get("/v1/config/service-intentions/db", None).await;
    let e = json(&b);
    assert_eq!(
        e["Sources"],
        json!([
            {"Name": "web", "Permissions": [{"Action": "allow", "HTTP": {"PathPrefix": "/v1", "Methods": ["GET"]}}], "Precedence": 9, "Type": "consul"},
            {"Name": "*", "Action": "deny", "Precedence": 8, "Type": "consul"},
        ])
    );
}

#[tokio::test]
async fn entries_read_back_write_back_unchanged() {
    let h = sim(false).await;
    let a = Api::new(&h);
    for body in [
        json!({"Kind": "service-intentions", "Name": "db", "Sources": [{"Name": "web", "Action": "allow"}], "Meta": {"team": "a"}}),
        json!({"Kind": "mesh", "TransparentProxy": {"MeshDestinationsOnly": true}}),
        json!({"Kind": "service-defaults", "Name": "web", "Protocol": "http"}),
        json!({"Kind": "proxy-defaults", "Name": "global"}),
    ] {
        let (s, b, _) = a.put("/v1/config", None, body.clone()).await;
        assert_eq!((s, b.as_str()), (200, "true"), "{body}");
        let kind = body["Kind"].as_str().expect("kind");
        let name = body["Name"].as_str().unwrap_or("mesh");
        let path = format!("/v1/config/{kind}/{name}");
        let (_, b, _) = a.get(&path, None).await;
        let read = json(&b);
        let idx = read["ModifyIndex"].as_u64().expect("ModifyIndex");
        // What a read returns is a valid write, and writing it back changes nothing.
        let (s, b, _) = a
            .put(&format!("/v1/config?cas={idx}"), None, read.clone())
            .await;
        assert_eq!((s, b.as_str()), (200, "true"), "{read}");
        let (_, b, _) = a.get(&path, None).await;
        assert_eq!(json(&b), read);
    }
    // A changed write-back under a stale index fails.
    let (_, b, _) = a.get("/v1/config/service-defaults/web", None).await;
    let mut read = json(&b);
    read["Protocol"] = json!("grpc");
    let idx = read["ModifyIndex"].as_u64().expect("ModifyIndex");
    let (s, b, _) = a
        .put(&format!("/v1/config?cas={}", idx - 1), None, read.clone())
        .await;
    assert_eq!((s, b.as_str()), (200, "false"));
    // Writes to another datacenter have no path.
    let (s, b, _) = a.put("/v1/config?dc=dc2", None, read).await;
    assert_eq!((s, b.as_str()), (500, "No path to datacenter"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_queries_wake_on_writes() {
    let h = sim(false).await;
    let a = Api::new(&h);
    a.put(
        "/v1/config",
        None,
        json!({"Kind": "service-defaults", "Name": "web", "Protocol": "http"}),
    )
    .await;
    let (_, _, hd) = a.get("/v1/config/service-defaults/web", None).await;
    let idx = index(&hd);

    // Times out at about `wait` with the same index when nothing changes.
    let t0 = Instant::now();
    let (s, _, hd) = a
        .get(
            &format!("/v1/config/service-defaults/web?index={idx}&wait=300ms"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(index(&hd), idx);
    assert!(
        t0.elapsed() >= Duration::from_millis(280),
        "{:?}",
        t0.elapsed()
    );

    // Wakes up on a write.
    let base = h.url();
    let waiter = tokio::spawn(async move {
        let c = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let t0 = Instant::now();
        let r = c
            .get(format!(
                "{base}/v1/config/service-defaults?index={idx}&wait=10s"
            ))
            .send()
            .await
            .expect("blocking request");
        let i = r.headers()["X-Consul-Index"]
            .to_str()
            .expect("ascii")
            .parse::<u64>()
            .expect("index");
        let body: Value = r.json().await.expect("json");
        (t0.elapsed(), i, body)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (s, _, _) = a
        .put(
            "/v1/config",
            None,
            json!({"Kind": "service-defaults", "Name": "api", "Protocol": "grpc"}),
        )
        .await;
    assert_eq!(s, 200);
    let (elapsed, i, body) = waiter.await.expect("waiter");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(i > idx);
    assert_eq!(body.as_array().map(Vec::len), Some(2), "{body}");

    // The intentions list blocks on the same table.
    let (_, _, hd) = a.get("/v1/connect/intentions", None).await;
    let idx = index(&hd);
    let base = h.url();
    let waiter = tokio::spawn(async move {
        let c = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        let r = c
            .get(format!("{base}/v1/connect/intentions?index={idx}&wait=10s"))
            .send()
            .await
            .expect("blocking request");
        r.json::<Value>().await.expect("json")
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, b, _) = a
        .put(
            "/v1/connect/intentions/exact?source=web&destination=db",
            None,
            json!({"Action": "allow"}),
        )
        .await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let list = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woke up")
        .expect("waiter");
    assert_eq!(list[0]["SourceName"], "web", "{list}");
}

#[tokio::test]
async fn intentions_precedence_and_legacy_bridge() {
    let h = sim(false).await;
    let a = Api::new(&h);
    let check = |src: &str, dst: &str| {
        format!("/v1/connect/intentions/check?source={src}&destination={dst}")
    };

    // Nothing matches: with ACLs off the default is allow.
    let (s, b, _) = a.get(&check("x", "y"), None).await;
    assert_eq!((s, b.as_str()), (200, "{\"Allowed\":true}"));

    // A */* deny; web → db allowed exactly; everything else to db denied by db's wildcard.
    for (src, dst, action) in [("*", "*", "deny"), ("web", "db", "allow")] {
        let (s, b, _) = a
            .put(
                &format!("/v1/connect/intentions/exact?source={src}&destination={dst}"),
                None,
                json!({"SourceType": "consul", "Action": action, "Description": format!("{src} to {dst}")}),
            )
            .await;
        assert_eq!((s, b.as_str()), (200, "true"));
    }
    let allowed = |b: &str| json(b)["Allowed"].as_bool().expect("Allowed");
    assert!(allowed(&a.get(&check("web", "db"), None).await.1));
    assert!(!allowed(&a.get(&check("api", "db"), None).await.1));
    assert!(!allowed(&a.get(&check("web", "cache"), None).await.1));
    // A more precise source beats a wildcard one on the same destination.
    a.put(
        "/v1/connect/intentions/exact?source=*&destination=cache",
        None,
        json!({"Action": "deny"}),
    )
    .await;
    a.put(
        "/v1/connect/intentions/exact?source=web&destination=cache",
        None,
        json!({"Action": "allow"}),
    )
    .await;
    assert!(allowed(&a.get(&check("web", "cache"), None).await.1));
    assert!(!allowed(&a.get(&check("api", "cache"), None).await.1));

    // The legacy write is stored as a service-intentions entry.
    let (s, b, _) = a.get("/v1/config/service-intentions/db", None).await;
    assert_eq!(s, 200, "{b}");
    let e = json(&b);
    assert_eq!(
        e["Sources"],
        json!([{"Name": "web", "Action": "allow", "Description": "web to db", "Precedence": 9, "Type": "consul"}])
    );
    let (_, b, _) = a.get("/v1/config/service-intentions/*", None).await;
    assert_eq!(json(&b)["Sources"][0]["Precedence"], 5);

    // Exact read.
    let (s, b, hd) = a
        .get(
            "/v1/connect/intentions/exact?source=web&destination=db",
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let i = json(&b);
    assert_eq!(i["SourceName"], "web");
    assert_eq!(i["SourceNS"], "default");
    assert_eq!(i["DestinationName"], "db");
    assert_eq!(i["DestinationNS"], "default");
    assert_eq!(i["SourceType"], "consul");
    assert_eq!(i["Action"], "allow");
    assert_eq!(i["Precedence"], 9);
    assert_eq!(i["Description"], "web to db");
    assert_eq!(i["Meta"], json!({}));
    assert_eq!(i["CreateIndex"], e["CreateIndex"]);
    assert!(i.get("ID").is_none(), "{i}");
    assert!(hd.get("X-Consul-Index").is_none());
    let (s, b, _) = a
        .get(
            "/v1/connect/intentions/exact?source=api&destination=db",
            None,
        )
        .await;
    assert_eq!((s, b.as_str()), (404, "Intention not found"));
    let (s, b, _) = a
        .get("/v1/connect/intentions/exact?destination=db", None)
        .await;
    assert_eq!(
        (s, b.as_str()),
        (500, "required query parameter 'source' not set")
    );
    let (s, b, _) = a
        .put(
            "/v1/connect/intentions/exact?source=&destination=db",
            None,
            json!({"Action": "allow"}),
        )
        .await;
    assert_eq!(
        (s, b.as_str()),
        (500, "required query parameter 'source' not set")
    );
    let (s, b, _) = a
        .put(
            "/v1/connect/intentions/exact?source=api&destination=db",
            None,
            json!({"Action": "maybe"}),
        )
        .await;
    assert_eq!(
        (s, b.as_str()),
        (500, "Sources[1].Action must be set to 'allow' or 'deny'")
    );
    let (s, b, _) = a
        .put(
            "/v1/connect/intentions/exact?source=api&destination=db",
            None,
            json!({"Action": 1}),
        )
        .await;
    assert_eq!(
        (s, b.as_str()),
        (400, "Request decode failed: json: cannot unmarshal number into Go struct field Intention.Action of type structs.IntentionAction")
    );
    let (s, b, _) = a
        .put(
            "/v1/connect/intentions/exact?source=api&destination=orders",
            None,
            json!({"Action": "allow", "Meta": {"a": "b"}}),
        )
        .await;
    assert_eq!((s, b.as_str()), (500, "Meta must not be specified"));

    // A config entry write shows through the legacy API.
    a.put(
        "/v1/config",
        None,
        json!({"Kind": "service-intentions", "Name": "db", "Sources": [
            {"Name": "web", "Action": "allow"},
            {"Name": "billing", "Action": "deny", "Description": "no"},
        ]}),
    )
    .await;
    let (s, b, _) = a
        .get(
            "/v1/connect/intentions/exact?source=billing&destination=db",
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(json(&b)["Action"], "deny");
    assert!(!allowed(&a.get(&check("billing", "db"), None).await.1));

    // match: by destination, highest precedence first, wildcards included.
    let (s, b, hd) = a
        .get("/v1/connect/intentions/match?by=destination&name=db", None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(index(&hd) > 0);
    let m = json(&b);
    let names: Vec<(String, String)> = m["db"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| {
            (
                i["SourceName"].as_str().unwrap_or("").to_string(),
                i["DestinationName"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [("billing", "db"), ("web", "db"), ("*", "*")].map(|(s, d)| (s.to_string(), d.to_string()))
    );
    let (s, b, _) = a
        .get("/v1/connect/intentions/match?by=sideways&name=db", None)
        .await;
    assert_eq!(
        (s, b.as_str()),
        (
            500,
            "'by' parameter must be one of 'source' or 'destination'"
        )
    );
    let (s, b, _) = a
        .get("/v1/connect/intentions/match?by=source&name=team/web", None)
        .await;
    assert_eq!(
        (s, b.as_str()),
        (
            500,
            "Invalid match entry namespace \"team\": Namespaces is a Consul Enterprise feature"
        )
    );
    let (s, b, _) = a.get("/v1/connect/intentions/match?by=source", None).await;
    assert_eq!(
        (s, b.as_str()),
        (500, "required query parameter 'name' not set")
    );

    // The list holds every source of every entry.
    let (s, b, _) = a.get("/v1/connect/intentions", None).await;
    assert_eq!(s, 200);
    assert_eq!(json(&b).as_array().map(Vec::len), Some(5), "{b}");

    // Legacy delete removes the source from the entry, and the entry with its last source.
    let (s, b, _) = a
        .delete(
            "/v1/connect/intentions/exact?source=billing&destination=db",
            None,
        )
        .await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let (_, b, _) = a.get("/v1/config/service-intentions/db", None).await;
    assert_eq!(
        json(&b)["Sources"],
        json!([{"Name": "web", "Action": "allow", "Precedence": 9, "Type": "consul"}])
    );
    let (s, b, _) = a
        .delete(
            "/v1/connect/intentions/exact?source=web&destination=db",
            None,
        )
        .await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let (s, _, _) = a.get("/v1/config/service-intentions/db", None).await;
    assert_eq!(s, 404);
    // Idempotent.
    let (s, b, _) = a
        .delete(
            "/v1/connect/intentions/exact?source=web&destination=db",
            None,
        )
        .await;
    assert_eq!((s, b.as_str()), (200, "true"));
}

/// Creates a policy and a token holding it; returns (SecretID, AccessorID).
async fn token_with(a: &Api, mgmt: &str, name: &str, rules: &str) -> (String, String) {
    let (s, b, _) = a
        .put(
            "/v1/acl/policy",
            Some(mgmt),
            json!({"Name": name, "Rules": rules}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b, _) = a
        .put(
            "/v1/acl/token",
            Some(mgmt),
            json!({"Policies": [{"Name": name}]}),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let t = json(&b);
    (
        t["SecretID"].as_str().expect("secret").to_string(),
        t["AccessorID"].as_str().expect("accessor").to_string(),
    )
}

#[tokio::test]
async fn acl_enforcement_with_consuls_texts() {
    let h = sim(true).await;
    let a = Api::new(&h);
    let mgmt = h.acl_bootstrap().expect("bootstrap");
    let m = Some(mgmt.as_str());
    let anon_suffix =
        ". The anonymous token is used implicitly when a request does not specify a token.";

    let (web, web_acc) =
        token_with(&a, &mgmt, "web", "service \"web\" { policy = \"write\" }").await;
    let (dbi, _) = token_with(
        &a,
        &mgmt,
        "db-intentions",
        "service \"db\" {\n  policy = \"read\"\n  intentions = \"write\"\n}",
    )
    .await;
    let (op, _) = token_with(&a, &mgmt, "operator", "operator = \"write\"").await;
    let (meshr, meshr_acc) = token_with(
        &a,
        &mgmt,
        "mesh-read",
        "mesh = \"read\"\noperator = \"write\"",
    )
    .await;

    let sd = |name: &str| json!({"Kind": "service-defaults", "Name": name, "Protocol": "http"});
    let ixn = json!({"Kind": "service-intentions", "Name": "db", "Sources": [{"Name": "web", "Action": "allow"}]});
    let pd = json!({"Kind": "proxy-defaults", "Name": "global", "Config": {"protocol": "http"}});

    // service-defaults: service:write to write, service:read to read.
    let (s, b, _) = a.put("/v1/config", None, sd("web")).await;
    assert_eq!(s, 403);
    assert_eq!(
        b,
        format!("Permission denied: anonymous token lacks permission 'service:write' on \"web\"{anon_suffix}")
    );
    let (s, b, _) = a.put("/v1/config", Some(&web), sd("web")).await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let (s, b, _) = a.put("/v1/config", Some(&web), sd("api")).await;
    assert_eq!(
        (s, b.as_str()),
        (
            403,
            format!("Permission denied: token with AccessorID '{web_acc}' lacks permission 'service:write' on \"api\"").as_str()
        )
    );
    let (s, b, _) = a.get("/v1/config/service-defaults/web", None).await;
    assert_eq!(
        (s, b.as_str()),
        (
            403,
            format!("Permission denied: anonymous token lacks permission 'service:read' on \"web\"{anon_suffix}").as_str()
        )
    );
    let (s, _, _) = a.get("/v1/config/service-defaults/web", Some(&web)).await;
    assert_eq!(s, 200);
    // Lists are filtered rather than refused.
    a.put("/v1/config", m, sd("api")).await;
    let (s, b, hd) = a.get("/v1/config/service-defaults", Some(&dbi)).await;
    assert_eq!((s, b.as_str()), (200, "[]"));
    assert_eq!(hd["X-Consul-Results-Filtered-By-Acls"], "true");
    let (_, b, _) = a.get("/v1/config/service-defaults", Some(&web)).await;
    assert_eq!(json(&b).as_array().map(Vec::len), Some(1), "{b}");

    // service-intentions: intentions:write on the destination; service write alone grants
    // only intentions read.
    let (s, b, _) = a.put("/v1/config", Some(&web), ixn.clone()).await;
    assert_eq!(
        (s, b.as_str()),
        (
            403,
            format!("Permission denied: token with AccessorID '{web_acc}' lacks permission 'intention:write' on \"db\"").as_str()
        )
    );
    let (s, b, _) = a.put("/v1/config", Some(&dbi), ixn.clone()).await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let (s, b, _) = a.get("/v1/config/service-intentions/db", None).await;
    assert_eq!(
        (s, b.as_str()),
        (
            403,
            format!("Permission denied: anonymous token lacks permission 'intention:read' on \"db\"{anon_suffix}").as_str()
        )
    );
    let (s, _, _) = a.get("/v1/config/service-intentions/db", Some(&dbi)).await;
    assert_eq!(s, 200);

    // Legacy intention writes answer a bare "Permission denied".
    let (s, b, _) = a
        .put(
            "/v1/connect/intentions/exact?source=web&destination=api",
            Some(&dbi),
            json!({"Action": "allow"}),
        )
        .await;
    assert_eq!((s, b.as_str()), (403, "Permission denied"));
    let (s, b, _) = a
        .put(
            "/v1/connect/intentions/exact?source=api&destination=db",
            Some(&dbi),
            json!({"Action": "deny"}),
        )
        .await;
    assert_eq!((s, b.as_str()), (200, "true"));
    // Exact reads need intentions read on either side: web's token may read web → db.
    let (s, _, _) = a
        .get(
            "/v1/connect/intentions/exact?source=web&destination=db",
            Some(&web),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b, _) = a
        .get(
            "/v1/connect/intentions/exact?source=api&destination=db",
            Some(&web),
        )
        .await;
    assert_eq!((s, b.as_str()), (403, "Permission denied"));
    let (s, b, _) = a
        .get("/v1/connect/intentions/match?by=destination&name=db", None)
        .await;
    assert_eq!(
        (s, b.as_str()),
        (
            403,
            format!("Permission denied: anonymous token lacks permission 'intention:read' on \"db\"{anon_suffix}").as_str()
        )
    );

    // check needs service:read on the destination; with default deny an unmatched
    // pair is denied, even for the management token.
    let chk = |src: &str, dst: &str| {
        format!("/v1/connect/intentions/check?source={src}&destination={dst}")
    };
    let (s, b, _) = a.get(&chk("web", "db"), None).await;
    assert_eq!(
        (s, b.as_str()),
        (
            403,
            format!("Permission denied: anonymous token lacks permission 'service:read' on \"db\"{anon_suffix}").as_str()
        )
    );
    let (s, b, _) = a.get(&chk("web", "db"), Some(&dbi)).await;
    assert_eq!((s, b.as_str()), (200, "{\"Allowed\":true}"));
    let (s, b, _) = a.get(&chk("api", "db"), Some(&dbi)).await;
    assert_eq!((s, b.as_str()), (200, "{\"Allowed\":false}"));
    let (s, b, _) = a.get(&chk("web", "cache"), m).await;
    assert_eq!((s, b.as_str()), (200, "{\"Allowed\":false}"));

    // proxy-defaults/mesh: mesh:write (operator:write stands in when no mesh rule);
    // reading needs nothing.
    let (s, b, _) = a.put("/v1/config", Some(&web), pd.clone()).await;
    assert_eq!(
        (s, b.as_str()),
        (
            403,
            format!("Permission denied: token with AccessorID '{web_acc}' lacks permission 'mesh:write'").as_str()
        )
    );
    let (s, b, _) = a.put("/v1/config", Some(&op), pd.clone()).await;
    assert_eq!((s, b.as_str()), (200, "true"));
    let (s, b, _) = a
        .put("/v1/config", Some(&meshr), json!({"Kind": "mesh"}))
        .await;
    assert_eq!(
        (s, b.as_str()),
        (
            403,
            format!("Permission denied: token with AccessorID '{meshr_acc}' lacks permission 'mesh:write'").as_str()
        )
    );
    let (s, _, _) = a.get("/v1/config/proxy-defaults/global", None).await;
    assert_eq!(s, 200);
    let (s, b, _) = a.delete("/v1/config/proxy-defaults/global", None).await;
    assert_eq!(s, 403, "{b}");
    let (s, b, _) = a
        .delete("/v1/config/proxy-defaults/global", Some(&op))
        .await;
    assert_eq!((s, b.as_str()), (200, "{}"));

    // Validation runs before the ACL check, as in Consul.
    let (s, b, _) = a
        .put(
            "/v1/config",
            None,
            json!({"Kind": "service-intentions", "Name": "db"}),
        )
        .await;
    assert_eq!((s, b.as_str()), (500, "At least one source is required"));
    // An unknown token is refused before anything else.
    let (s, b, _) = a.put("/v1/config", Some("nope"), sd("web")).await;
    assert_eq!((s, b.as_str()), (403, "ACL not found"));
}
