//! Conformance tests of the Nomad simulator: the third-party `python-nomad` client drives it
//! (tests/py/nomad_conformance.py), and direct HTTP checks pin the wire contract.

mod common;

use std::time::{Duration, Instant};

use common::{
    client, docker_job as job, header, nomad_send as send, nomad_sim as sim, run_python, NOMAD_ENV,
};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_nomad_client_conformance() {
    let h = sim(false).await;
    run_python(
        "python-nomad",
        "nomad_conformance.py",
        h.addr().to_string(),
        20,
        NOMAD_ENV,
        "conformance",
    )
    .await;
}

#[tokio::test]
async fn enforce_index_semantics() {
    let h = sim(false).await;
    let c = client();
    let url = format!("{}/v1/jobs", h.url());

    // EnforceIndex with a non-zero index on a missing job.
    let (s, _, body) = send(c.post(&url).json(&json!({
        "Job": job("web", "a"), "EnforceIndex": true, "JobModifyIndex": 5
    })))
    .await;
    assert_eq!(
        (s, body.as_str()),
        (500, "Enforcing job modify index 5: job does not exist")
    );

    // EnforceIndex 0 creates.
    let (s, idx, body) = send(c.post(&url).json(&json!({
        "Job": job("web", "a"), "EnforceIndex": true, "JobModifyIndex": 0
    })))
    .await;
    assert_eq!(s, 200, "{body}");
    let reg: Value = serde_json::from_str(&body).expect("json");
    let jmi = reg["JobModifyIndex"].as_u64().expect("JobModifyIndex");
    assert_eq!(idx.as_deref(), Some(jmi.to_string().as_str()));
    assert_eq!(reg["EvalCreateIndex"], jmi);

    // EnforceIndex 0 on an existing job.
    let (s, _, body) = send(c.post(&url).json(&json!({
        "Job": job("web", "b"), "EnforceIndex": true, "JobModifyIndex": 0
    })))
    .await;
    assert_eq!(
        (s, body.as_str()),
        (500, "Enforcing job modify index 0: job already exists")
    );

    // A stale index.
    let (s, _, body) = send(c.post(&url).json(&json!({
        "Job": job("web", "b"), "EnforceIndex": true, "JobModifyIndex": jmi + 100
    })))
    .await;
    assert_eq!(s, 500);
    assert_eq!(
        body,
        format!(
            "Enforcing job modify index {}: job exists with conflicting job modify index: {jmi}",
            jmi + 100
        )
    );

    // The current index wins, and the job gets a new version.
    let (s, _, body) = send(
        c.post(format!("{}/v1/job/web", h.url()))
            .json(&json!({"Job": job("web", "b"), "EnforceIndex": true, "JobModifyIndex": jmi})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let got: Value = c
        .get(format!("{}/v1/job/web", h.url()))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(got["Version"], 1);
    assert_eq!(got["Status"], "running");
    assert!(got["JobModifyIndex"].as_u64() > Some(jmi));
    // Durations are nanosecond integers.
    assert_eq!(got["Update"]["MinHealthyTime"], 10_000_000_000i64);
}

#[tokio::test]
async fn blocking_queries_wake_on_write_and_time_out() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    let (s, _, _) = send(
        c.put(format!("{base}/v1/var/app/x"))
            .json(&json!({"Items": {"a": "1"}})),
    )
    .await;
    assert_eq!(s, 200);
    let r = c
        .get(format!("{base}/v1/var/app/x"))
        .send()
        .await
        .expect("GET");
    assert_eq!(header(&r, "X-Nomad-KnownLeader").as_deref(), Some("true"));
    assert_eq!(header(&r, "X-Nomad-LastContact").as_deref(), Some("0"));
    let idx: u64 = header(&r, "X-Nomad-Index")
        .expect("index")
        .parse()
        .expect("u64");

    // Times out after the wait (plus at most wait/16 of jitter) with the same index.
    let started = Instant::now();
    let r = c
        .get(format!("{base}/v1/var/app/x?index={idx}&wait=300ms"))
        .send()
        .await
        .expect("GET");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(header(&r, "X-Nomad-Index"), Some(idx.to_string()));

    // Wakes on a write to that variable.
    let c2 = c.clone();
    let url = format!("{base}/v1/var/app/x?index={idx}&wait=5s");
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        let r = c2.get(url).send().await.expect("GET");
        let i: u64 = header(&r, "X-Nomad-Index")
            .expect("index")
            .parse()
            .expect("u64");
        let v: Value = r.json().await.expect("json");
        (started.elapsed(), i, v)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (s, _, _) = send(
        c.put(format!("{base}/v1/var/app/x"))
            .json(&json!({"Items": {"a": "2"}})),
    )
    .await;
    assert_eq!(s, 200);
    let (took, new_idx, v) = waiter.await.expect("join");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(new_idx > idx);
    assert_eq!(v["Items"]["a"], "2");

    // Job allocations block until the job is registered and placed.
    let c3 = c.clone();
    let r = c
        .get(format!("{base}/v1/job/later/allocations"))
        .send()
        .await
        .expect("GET");
    let aidx = header(&r, "X-Nomad-Index").expect("index");
    assert_eq!(r.text().await.expect("body"), "[]");
    let url = format!("{base}/v1/job/later/allocations?index={aidx}&wait=5s");
    let waiter = tokio::spawn(async move {
        let v: Value = c3
            .get(url)
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("json");
        v
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (s, _, body) = send(
        c.post(format!("{base}/v1/jobs"))
            .json(&json!({"Job": job("later", "x")})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let allocs = waiter.await.expect("join");
    assert_eq!(allocs.as_array().map(Vec::len), Some(1), "{allocs}");
    // The wake-up is the placement: the client has not started the task yet.
    let status = allocs[0]["ClientStatus"].as_str().unwrap_or("");
    assert!(status == "pending" || status == "running", "{allocs}");
    assert_eq!(allocs[0]["Name"], "later.g[0]");

    // Bad blocking parameters.
    let (s, _, body) = send(c.get(format!("{base}/v1/job/later?wait=abc"))).await;
    assert_eq!((s, body.as_str()), (400, "Invalid wait time"));
    let (s, _, body) = send(c.get(format!("{base}/v1/job/later?index=x"))).await;
    assert_eq!((s, body.as_str()), (400, "Invalid index"));
}

#[tokio::test]
async fn errors_are_plain_text_with_nomad_codes() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();

    let r = c
        .get(format!("{base}/v1/job/nope"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status().as_u16(), 404);
    assert!(header(&r, "X-Nomad-Index").is_some());
    assert!(header(&r, "Content-Type")
        .expect("content type")
        .starts_with("text/plain"));
    assert_eq!(r.text().await.expect("body"), "job not found");

    for (path, text) in [
        ("/v1/evaluation/nope", "eval not found"),
        ("/v1/var/nope", "variable not found"),
        ("/v1/namespace/nope", "Namespace not found"),
        ("/v1/job/nope/versions", "job versions not found"),
    ] {
        let (s, _, body) = send(c.get(format!("{base}{path}"))).await;
        assert_eq!((s, body.as_str()), (404, text), "{path}");
    }
    // Lists are empty arrays, never 404.
    for path in [
        "/v1/job/nope/allocations",
        "/v1/job/nope/evaluations",
        "/v1/jobs",
        "/v1/vars",
    ] {
        let (s, _, body) = send(c.get(format!("{base}{path}"))).await;
        assert_eq!((s, body.as_str()), (200, "[]"), "{path}");
    }

    // Registration errors.
    let url = format!("{base}/v1/jobs");
    let (s, _, body) = send(c.post(&url)).await;
    assert_eq!((s, body.as_str()), (400, "Request body is empty"));
    let (s, _, body) = send(c.post(&url).json(&json!({"ID": "x"}))).await;
    assert_eq!((s, body.as_str()), (400, "Job must be specified"));
    let (s, _, body) = send(c.post(&url).json(&json!({"Job": {"Name": "x"}}))).await;
    assert_eq!((s, body.as_str()), (400, "Job ID hasn't been provided"));
    let (s, _, body) = send(
        c.post(format!("{base}/v1/job/other"))
            .json(&json!({"Job": job("x", "i")})),
    )
    .await;
    assert_eq!((s, body.as_str()), (400, "Job ID does not match name"));
    let (s, _, body) = send(c.post(&url).json(&json!({"Job": {"ID": "x"}}))).await;
    assert_eq!(
        (s, body.as_str()),
        (500, "1 error occurred:\n\t* Missing job task groups\n\n")
    );
    let (s, _, body) = send(
        c.post(&url)
            .json(&json!({"Job": {"ID": "x", "Name": "", "Type": "bogus", "TaskGroups": []}})),
    )
    .await;
    assert_eq!(s, 500);
    assert_eq!(
        body,
        "3 errors occurred:\n\t* Missing job name\n\t* Invalid job type: \"bogus\"\n\t* Missing job task groups\n\n"
    );
    let (s, _, body) = send(
        c.post(format!("{url}?namespace=ghost"))
            .json(&json!({"Job": job("x", "i")})),
    )
    .await;
    assert_eq!(
        (s, body.as_str()),
        (500, "job \"x\" is in nonexistent namespace \"ghost\"")
    );

    // Deleting an unknown job is not an error.
    let (s, _, body) = send(c.delete(format!("{base}/v1/job/never"))).await;
    assert_eq!(s, 200);
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["EvalID"], "");

    // Methods.
    let (s, _, body) = send(c.delete(format!("{base}/v1/status/leader"))).await;
    assert_eq!((s, body.as_str()), (405, "Invalid method"));

    // Variables.
    let (s, _, body) = send(
        c.put(format!("{base}/v1/var/a"))
            .json(&json!({"Items": {}})),
    )
    .await;
    assert_eq!(
        (s, body.as_str()),
        (400, "variable missing required Items object")
    );
    let (s, _, body) = send(
        c.put(format!("{base}/v1/var/a?cas=x"))
            .json(&json!({"Items": {"k": "v"}})),
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.starts_with("can not parse cas: "), "{body}");
    let (s, _, body) = send(
        c.put(format!("{base}/v1/var/bad%20path"))
            .json(&json!({"Items": {"k": "v"}})),
    )
    .await;
    assert_eq!((s, body.as_str()), (500, "invalid path \"bad path\""));
    // CAS against a missing variable conflicts with the zero variable.
    let (s, idx, body) = send(
        c.put(format!("{base}/v1/var/a?cas=7"))
            .json(&json!({"Items": {"k": "v"}})),
    )
    .await;
    assert_eq!(s, 409, "{body}");
    assert_eq!(idx.as_deref(), Some("1"));
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        (v["Path"].as_str(), v["ModifyIndex"].as_u64()),
        (Some("a"), Some(0))
    );
    let (s, _, body) = send(
        c.put(format!("{base}/v1/var/a?cas=0"))
            .json(&json!({"Items": {"k": "v"}})),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    let mi = v["ModifyIndex"].as_u64().expect("ModifyIndex");
    let (s, idx, body) = send(c.delete(format!("{base}/v1/var/a?cas={}", mi + 1))).await;
    assert_eq!(s, 409);
    assert_eq!(idx, Some(mi.to_string()));
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json")["Items"]["k"],
        "v"
    );
    let (s, _, body) = send(c.delete(format!("{base}/v1/var/a?cas={mi}"))).await;
    assert_eq!((s, body.as_str()), (204, ""));

    // Namespaces.
    let (s, _, body) = send(
        c.post(format!("{base}/v1/namespace/one"))
            .json(&json!({"Name": "two"})),
    )
    .await;
    assert_eq!(
        (s, body.as_str()),
        (400, "Namespace name does not match request path")
    );
    let (s, _, body) = send(c.delete(format!("{base}/v1/namespace/default"))).await;
    assert_eq!(
        (s, body.as_str()),
        (500, "can not delete default namespace")
    );
    let (s, _, body) = send(c.delete(format!("{base}/v1/namespace/ghost"))).await;
    assert_eq!((s, body.as_str()), (500, "namespace not found"));
    let (s, _, _) = send(
        c.post(format!("{base}/v1/namespace/busy"))
            .json(&json!({"Name": "busy"})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, _) = send(
        c.post(format!("{base}/v1/jobs?namespace=busy"))
            .json(&json!({"Job": job("j", "i")})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, _, body) = send(c.delete(format!("{base}/v1/namespace/busy"))).await;
    assert_eq!(s, 500);
    assert!(
        body.contains("namespace \"busy\" has non-terminal jobs in regions: [global]"),
        "{body}"
    );

    // Health.
    let (s, _, body) = send(c.get(format!("{base}/v1/agent/health"))).await;
    assert_eq!(s, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("json"),
        json!({"client": {"ok": true, "message": "ok"}, "server": {"ok": true, "message": "ok"}})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_up_with_nomad_sim_exports_nomad_addr() {
    use stack_devstack::stack::{AclMode, Provide, Stack, UpOptions};
    let opts = UpOptions {
        consul: Provide::Sim,
        nomad: Some(Provide::Sim),
        acl: AclMode::Off,
        ..UpOptions::default()
    };
    let stack = Stack::up(&opts)
        .await
        .expect("stack up (needs .tools/bin/bao or BAO_BIN)");
    let addr = stack
        .env()
        .iter()
        .find(|(k, _)| k == "NOMAD_ADDR")
        .map(|(_, v)| v.clone())
        .expect("NOMAD_ADDR exported");
    assert!(stack
        .export_lines()
        .contains("export NOMAD_ADDR='http://127.0.0.1:"));
    let c = client();
    let (s, _, body) = send(c.get(format!("{addr}/v1/status/leader"))).await;
    assert_eq!((s, body.as_str()), (200, "\"127.0.0.1:4647\""));
    stack.down().await;
    assert!(c
        .get(format!("{addr}/v1/status/leader"))
        .send()
        .await
        .is_err());
}

#[tokio::test]
async fn namespace_validation_and_wildcard_lists() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    let (s, _, body) = send(
        c.post(format!("{base}/v1/namespace"))
            .json(&json!({"Name": "bad name"})),
    )
    .await;
    assert_eq!(s, 500);
    assert_eq!(
        body,
        "Invalid namespace \"bad name\": 1 error occurred:\n\t* invalid name \"bad name\". Must match regex ^[a-zA-Z0-9-]{1,128}$\n\n"
    );
    let (s, idx, body) = send(
        c.post(format!("{base}/v1/namespace"))
            .json(&json!({"Name": "team", "Meta": {"owner": "me"}})),
    )
    .await;
    assert_eq!((s, body.as_str()), (200, ""));
    let idx: u64 = idx.expect("index").parse().expect("u64");
    let r = c
        .get(format!("{base}/v1/namespace/team"))
        .send()
        .await
        .expect("GET");
    assert_eq!(header(&r, "X-Nomad-Index"), Some(idx.to_string()));
    let ns: Value = r.json().await.expect("json");
    assert_eq!(ns["Meta"]["owner"], "me");
    assert_eq!(ns["CreateIndex"], idx);
    for ns in ["default", "team"] {
        let (s, _, _) = send(
            c.put(format!("{base}/v1/var/shared?namespace={ns}"))
                .json(&json!({"Items": {"k": ns}})),
        )
        .await;
        assert_eq!(s, 200);
    }
    let all: Value = c
        .get(format!("{base}/v1/vars?namespace=*"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(all.as_array().map(Vec::len), Some(2), "{all}");
    let (s, _, body) = send(c.delete(format!("{base}/v1/namespace/team"))).await;
    assert_eq!(s, 500);
    assert_eq!(
        body,
        "1 error occurred:\n\t* namespace \"team\" has variables associated with it in regions: [global]\n\n"
    );
}
