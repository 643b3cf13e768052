//! Conformance tests of the Consul simulator: the third-party `py-consul` client drives it
//! (tests/py/consul_conformance.py), and direct HTTP checks pin the wire contract.

mod common;

use std::time::{Duration, Instant};

use common::{client, consul_sim as sim, header, run_python};

async fn put(c: &reqwest::Client, url: String, body: &str) -> (u16, String) {
    let r = c.put(url).body(body.to_string()).send().await.expect("PUT");
    let s = r.status().as_u16();
    (s, r.text().await.expect("body"))
}

async fn get(c: &reqwest::Client, url: String) -> reqwest::Response {
    c.get(url).send().await.expect("GET")
}

async fn modify_index(c: &reqwest::Client, base: &str, key: &str) -> u64 {
    let v: serde_json::Value = get(c, format!("{base}/v1/kv/{key}"))
        .await
        .json()
        .await
        .expect("json");
    v[0]["ModifyIndex"].as_u64().expect("ModifyIndex")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_consul_client_conformance() {
    let h = sim(false).await;
    run_python(
        "py-consul",
        "consul_conformance.py",
        h.addr().to_string(),
        20,
        &[],
        "conformance",
    )
    .await;
}

#[tokio::test]
async fn kv_cas_semantics() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    assert_eq!(
        put(&c, format!("{base}/v1/kv/k?cas=0"), "a").await,
        (200, "true".into())
    );
    // cas=0 is create-only: a conflict is 200 `false`, not an error.
    assert_eq!(
        put(&c, format!("{base}/v1/kv/k?cas=0"), "b").await,
        (200, "false".into())
    );
    let idx = modify_index(&c, &base, "k").await;
    assert_eq!(
        put(&c, format!("{base}/v1/kv/k?cas={}", idx + 7), "b").await,
        (200, "false".into())
    );
    assert_eq!(
        put(&c, format!("{base}/v1/kv/k?cas={idx}"), "b").await,
        (200, "true".into())
    );
    assert_eq!(
        put(&c, format!("{base}/v1/kv/k?cas={idx}"), "c").await,
        (200, "false".into())
    );
    // cas on a missing key other than 0 fails.
    assert_eq!(
        put(&c, format!("{base}/v1/kv/missing?cas=5"), "x").await,
        (200, "false".into())
    );

    // DELETE with cas: cas=0 never deletes an existing key; a missing key "succeeds".
    let del = |url: String| {
        let c = c.clone();
        async move {
            let r = c.delete(url).send().await.expect("DELETE");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };
    assert_eq!(
        del(format!("{base}/v1/kv/k?cas=0")).await,
        (200, "false".into())
    );
    assert_eq!(
        del(format!("{base}/v1/kv/missing?cas=3")).await,
        (200, "true".into())
    );
    let idx = modify_index(&c, &base, "k").await;
    assert_eq!(
        del(format!("{base}/v1/kv/k?cas={idx}")).await,
        (200, "true".into())
    );

    // Bad parameters, with Consul's texts and codes.
    assert_eq!(
        put(&c, format!("{base}/v1/kv/k?cas=abc"), "x").await,
        (
            500,
            "strconv.ParseUint: parsing \"abc\": invalid syntax".into()
        )
    );
    let (s, body) = put(&c, format!("{base}/v1/kv/k?cas=1&acquire=s"), "x").await;
    assert_eq!(s, 400);
    assert!(
        body.starts_with("Conflicting flags: acquire=s&cas=1"),
        "{body}"
    );
    let (s, body) = del(format!("{base}/v1/kv/k?cas=1&recurse")).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(
        put(&c, format!("{base}/v1/kv/"), "x").await,
        (400, "Missing key name".into())
    );
    let big = "x".repeat(512 * 1024 + 1);
    let (s, body) = put(&c, format!("{base}/v1/kv/big"), &big).await;
    assert_eq!(s, 413, "{body}");
    assert!(
        body.starts_with("Request body(524289 bytes) too large"),
        "{body}"
    );
}

#[tokio::test]
async fn missing_key_is_404_with_index_header() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    put(&c, format!("{base}/v1/kv/present"), "v").await;
    let r = get(&c, format!("{base}/v1/kv/absent")).await;
    assert_eq!(r.status().as_u16(), 404);
    let idx: u64 = header(&r, "X-Consul-Index")
        .expect("X-Consul-Index on a 404")
        .parse()
        .expect("numeric index");
    assert!(idx > 0);
    assert_eq!(header(&r, "X-Consul-KnownLeader").as_deref(), Some("true"));
    assert!(header(&r, "X-Consul-LastContact").is_some());
    assert_eq!(r.text().await.expect("body"), "");

    let r = get(&c, format!("{base}/v1/kv/absent/?recurse")).await;
    assert_eq!(r.status().as_u16(), 404);
    assert!(header(&r, "X-Consul-Index").is_some());
    // Listing keys at the root is never a 404.
    put(&c, format!("{base}/v1/kv/a/b"), "v").await;
    let r = get(&c, format!("{base}/v1/kv/?keys&separator=/")).await;
    assert_eq!(r.status().as_u16(), 200);
    let keys: Vec<String> = r.json().await.expect("json");
    assert_eq!(keys, vec!["a/".to_string(), "present".to_string()]);

    // ?raw returns the bytes.
    let r = get(&c, format!("{base}/v1/kv/present?raw")).await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.text().await.expect("body"), "v");

    // Base64 value, PascalCase keys, an array even for a single key.
    let v: serde_json::Value = get(&c, format!("{base}/v1/kv/present"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v[0]["Value"], "dg==");
    for k in ["CreateIndex", "ModifyIndex", "LockIndex", "Flags", "Key"] {
        assert!(v[0].get(k).is_some(), "{k} missing in {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_queries_wake_on_write_and_time_out() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    put(&c, format!("{base}/v1/kv/watched"), "1").await;
    let idx = modify_index(&c, &base, "watched").await;

    // Returns early when the key changes.
    let writer = {
        let c = c.clone();
        let url = format!("{base}/v1/kv/watched");
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            put(&c, url, "2").await
        })
    };
    let t = Instant::now();
    let r = get(&c, format!("{base}/v1/kv/watched?index={idx}&wait=5s")).await;
    let elapsed = t.elapsed();
    writer.await.expect("writer");
    assert_eq!(r.status().as_u16(), 200);
    let new_idx: u64 = header(&r, "X-Consul-Index")
        .expect("index")
        .parse()
        .expect("num");
    assert!(new_idx > idx);
    assert!(
        elapsed >= Duration::from_millis(250) && elapsed < Duration::from_secs(2),
        "{elapsed:?}"
    );

    // A write to another key does not wake a single-key query.
    let other = {
        let c = c.clone();
        let url = format!("{base}/v1/kv/other");
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            put(&c, url, "x").await
        })
    };
    // Returns after wait (+ up to wait/16 jitter) without a relevant write.
    let t = Instant::now();
    let r = get(
        &c,
        format!("{base}/v1/kv/watched?index={new_idx}&wait=800ms"),
    )
    .await;
    let elapsed = t.elapsed();
    other.await.expect("other");
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(header(&r, "X-Consul-Index"), Some(new_idx.to_string()));
    assert!(
        elapsed >= Duration::from_millis(800) && elapsed < Duration::from_millis(800 + 50 + 300),
        "{elapsed:?}"
    );

    // Bad blocking parameters.
    let r = get(&c, format!("{base}/v1/kv/watched?index=1&wait=5")).await;
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.text().await.expect("body"), "Invalid wait time");
    let r = get(&c, format!("{base}/v1/kv/watched?index=x")).await;
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(r.text().await.expect("body"), "Invalid index");
    let r = get(&c, format!("{base}/v1/kv/watched?stale&consistent")).await;
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_injection() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    let fault = |body: &'static str| {
        let c = c.clone();
        let url = format!("{base}/_sim/faults");
        async move {
            let r = c.post(url).body(body).send().await.expect("POST fault");
            assert_eq!(
                r.status().as_u16(),
                200,
                "{}",
                r.text().await.expect("body")
            );
        }
    };
    fault(r#"{"status":500,"body":"No cluster leader","count":2}"#).await;
    for _ in 0..2 {
        let r = get(&c, format!("{base}/v1/status/leader")).await;
        assert_eq!(r.status().as_u16(), 500);
        assert_eq!(r.text().await.expect("body"), "No cluster leader");
    }
    assert_eq!(
        get(&c, format!("{base}/v1/status/leader"))
            .await
            .status()
            .as_u16(),
        200
    );

    fault(r#"{"status":429}"#).await;
    let r = get(&c, format!("{base}/v1/kv/x")).await;
    assert_eq!(r.status().as_u16(), 429);
    assert!(!r.text().await.expect("body").is_empty());
    assert_eq!(
        get(&c, format!("{base}/v1/kv/x")).await.status().as_u16(),
        404
    );

    fault(r#"{"delay_ms":300,"count":1}"#).await;
    let t = Instant::now();
    let r = get(&c, format!("{base}/v1/agent/self")).await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(t.elapsed() >= Duration::from_millis(300));

    // A rejected fault spec.
    let r = c
        .post(format!("{base}/_sim/faults"))
        .body(r#"{"status":"x"}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn errors_are_plain_text_with_consul_codes() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    let r = get(&c, format!("{base}/v1/no/such/endpoint")).await;
    assert_eq!(r.status().as_u16(), 404);

    let r = c
        .post(format!("{base}/v1/kv/x"))
        .send()
        .await
        .expect("POST");
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(
        header(&r, "Allow").as_deref(),
        Some("OPTIONS,GET,PUT,DELETE")
    );
    assert_eq!(r.text().await.expect("body"), "method POST not allowed");

    let (s, body) = put(
        &c,
        format!("{base}/v1/agent/service/register"),
        r#"{"Port":80}"#,
    )
    .await;
    assert_eq!((s, body.as_str()), (400, "Missing service name"));
    let (s, body) = put(
        &c,
        format!("{base}/v1/agent/service/register"),
        r#"{"Name":"a","Port":"80"}"#,
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.starts_with("Request decode failed: "), "{body}");
    let (s, body) = put(
        &c,
        format!("{base}/v1/agent/service/register"),
        r#"{"Name":"a","Check":{"HTTP":"http://127.0.0.1:1/"}}"#,
    )
    .await;
    assert_eq!(s, 400);
    assert!(
        body.starts_with("Invalid check: Interval must be > 0"),
        "{body}"
    );
    let (s, body) = put(
        &c,
        format!("{base}/v1/agent/service/register"),
        r#"{"Name":"a","Meta":{"consul-x":"1"}}"#,
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.starts_with("Invalid Service Meta: "), "{body}");
    let (s, body) = put(&c, format!("{base}/v1/agent/service/deregister/nope"), "").await;
    assert_eq!((s, body.as_str()), (404, "Unknown service ID \"nope\""));

    // Snake-case and lower-case keys decode as Consul decodes them.
    let (s, body) = put(
        &c,
        format!("{base}/v1/agent/service/register"),
        r#"{"name":"db","id":"db-1","port":5432,"enable_tag_override":true}"#,
    )
    .await;
    assert_eq!((s, body.as_str()), (200, ""));
    let v: serde_json::Value = get(&c, format!("{base}/v1/catalog/service/db"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(v[0]["ServiceID"], "db-1");
    assert_eq!(v[0]["ServiceEnableTagOverride"], true);
    let r = get(&c, format!("{base}/v1/health/service/db?passing=maybe")).await;
    assert_eq!(r.status().as_u16(), 400);
}

#[tokio::test]
async fn pretty_and_foreign_datacenter() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    let r = get(&c, format!("{base}/v1/status/peers?pretty")).await;
    assert_eq!(
        r.text().await.expect("body"),
        "[\n    \"127.0.0.1:8300\"\n]\n"
    );
    let r = get(&c, format!("{base}/v1/kv/x?dc=elsewhere")).await;
    assert_eq!(r.status().as_u16(), 500);
    assert_eq!(r.text().await.expect("body"), "No path to datacenter");
    let r = get(&c, format!("{base}/v1/kv/x?dc=dc1")).await;
    assert_eq!(r.status().as_u16(), 404);
}
