//! The Nomad simulator's runtime: real `raw_exec` processes with Nomad's environment and
//! alloc dir, deployments honouring the `update` block (min_healthy_time, auto_revert),
//! restart policy and task events, Consul service registration with the Connect sidecar,
//! plan, submissions and the client filesystem. The read endpoints are also driven by
//! `python-nomad` (tests/py/nomad_runtime.py).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{client, nomad_sim as sim, run_python, NOMAD_ENV};
use serde_json::{json, Value};
use stack_devstack::consul::{ConsulSim, SimOptions};
use stack_devstack::nomad::{NomadSim, NomadSimOptions};

async fn get(c: &reqwest::Client, url: &str) -> (u16, Value) {
    let r = c.get(url).send().await.expect("GET");
    let s = r.status().as_u16();
    let body = r.text().await.expect("body");
    (
        s,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

async fn register(c: &reqwest::Client, base: &str, body: Value) -> Value {
    let r = c
        .post(format!("{base}/v1/jobs"))
        .json(&body)
        .send()
        .await
        .expect("register");
    let s = r.status().as_u16();
    let text = r.text().await.expect("body");
    assert_eq!(s, 200, "{text}");
    serde_json::from_str(&text).expect("json")
}

/// Polls `url` until `pred` holds (or panics after `secs`).
async fn wait_for(
    c: &reqwest::Client,
    url: &str,
    secs: u64,
    what: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let (s, v) = get(c, url).await;
        if s == 200 && pred(&v) {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn raw_exec_job(id: &str, script: &str, update: Value, restart: Value) -> Value {
    json!({
        "ID": id,
        "Type": "service",
        "Datacenters": ["dc1"],
        "Update": update,
        "TaskGroups": [{
            "Name": "g",
            "Count": 1,
            "RestartPolicy": restart,
            "Networks": [{"DynamicPorts": [{"Label": "http"}]}],
            "Tasks": [{
                "Name": "t",
                "Driver": "raw_exec",
                "Config": {"command": "/bin/sh", "args": ["-c", script]},
                "Env": {"GREETING": "hi from ${NOMAD_JOB_NAME}"},
                "KillTimeout": 2_000_000_000i64,
            }]
        }]
    })
}

fn fast_update() -> Value {
    json!({"MaxParallel": 1, "MinHealthyTime": 1_000_000_000i64, "HealthCheck": "task_states",
           "HealthyDeadline": 60_000_000_000i64, "ProgressDeadline": 120_000_000_000i64})
}

fn pid_alive(pid: u32) -> bool {
    // A zombie still has a /proc entry; its state is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"))
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_exec_runs_with_nomad_env_alloc_dir_and_is_killed_on_stop() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    let script = "env > \"$NOMAD_ALLOC_DIR/env.txt\"; echo $$ > \"$NOMAD_TASK_DIR/pid\"; echo started; echo oops >&2; exec sleep 600";
    let mut job = raw_exec_job(
        "envjob",
        script,
        fast_update(),
        json!({"Attempts": 0, "Mode": "fail"}),
    );
    // An `env = true` template, rendered by the workload hooks before the task starts.
    job["TaskGroups"][0]["Tasks"][0]["Templates"] = json!([{
        "EmbeddedTmpl": "FROM_TMPL=job-{{ env \"NOMAD_JOB_NAME\" }}\n",
        "DestPath": "secrets/file.env",
        "Envvars": true,
    }]);
    let reg = register(&c, &base, json!({"Job": job})).await;
    let (_, ev) = get(
        &c,
        &format!(
            "{base}/v1/evaluation/{}",
            reg["EvalID"].as_str().expect("present")
        ),
    )
    .await;
    assert_eq!(ev["Status"], "complete");
    assert_eq!(ev["TriggeredBy"], "job-register");

    let allocs = wait_for(
        &c,
        &format!("{base}/v1/job/envjob/allocations"),
        10,
        "running alloc",
        |v| v[0]["ClientStatus"] == "running",
    )
    .await;
    let alloc_id = allocs[0]["ID"].as_str().expect("present").to_string();
    assert_eq!(allocs[0]["Name"], "envjob.g[0]");
    let (_, alloc) = get(&c, &format!("{base}/v1/allocation/{alloc_id}")).await;
    let port = alloc["AllocatedResources"]["Shared"]["Ports"][0]["Value"]
        .as_u64()
        .expect("present");
    assert_eq!(
        alloc["AllocatedResources"]["Shared"]["Ports"][0]["Label"],
        "http"
    );
    assert!(port > 0);
    assert_eq!(alloc["Job"]["ID"], "envjob");

    // The env file, read back through the client filesystem API.
    let env_url = format!("{base}/v1/client/fs/cat/{alloc_id}?path=alloc/env.txt");
    let deadline = Instant::now() + Duration::from_secs(10);
    let env_text = loop {
        let r = c.get(&env_url).send().await.expect("cat");
        if r.status() == 200 {
            let t = r.text().await.expect("body");
            if t.contains("NOMAD_TASK_NAME") {
                break t;
            }
        }
        assert!(Instant::now() < deadline, "env file never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let env: std::collections::BTreeMap<&str, &str> =
        env_text.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(env["NOMAD_ALLOC_ID"], alloc_id);
    assert_eq!(env["NOMAD_ALLOC_NAME"], "envjob.g[0]");
    assert_eq!(env["NOMAD_ALLOC_INDEX"], "0");
    assert_eq!(env["NOMAD_JOB_NAME"], "envjob");
    assert_eq!(env["NOMAD_JOB_ID"], "envjob");
    assert_eq!(env["NOMAD_GROUP_NAME"], "g");
    assert_eq!(env["NOMAD_TASK_NAME"], "t");
    assert_eq!(env["NOMAD_NAMESPACE"], "default");
    assert_eq!(env["NOMAD_REGION"], "global");
    assert_eq!(env["NOMAD_DC"], "dc1");
    assert_eq!(env["NOMAD_PORT_http"], port.to_string());
    assert_eq!(env["NOMAD_HOST_PORT_http"], port.to_string());
    assert_eq!(env["NOMAD_IP_http"], "127.0.0.1");
    assert_eq!(env["NOMAD_ADDR_http"], format!("127.0.0.1:{port}"));
    assert_eq!(env["GREETING"], "hi from envjob");
    assert_eq!(env["FROM_TMPL"], "job-envjob");
    assert!(env["NOMAD_ALLOC_DIR"].ends_with(&format!("{alloc_id}/alloc")));
    assert!(env["NOMAD_TASK_DIR"].ends_with(&format!("{alloc_id}/t/local")));
    assert!(env["NOMAD_SECRETS_DIR"].ends_with(&format!("{alloc_id}/t/secrets")));
    assert!(
        env["PWD"].ends_with(&format!("{alloc_id}/t")),
        "{}",
        env["PWD"]
    );
    let data_dir = PathBuf::from(env["NOMAD_ALLOC_DIR"]);
    assert!(data_dir.is_dir());

    // Logs where Nomad puts them.
    let (_, _) = get(
        &c,
        &format!("{base}/v1/client/fs/ls/{alloc_id}?path=alloc/logs"),
    )
    .await;
    let out = c
        .get(format!(
            "{base}/v1/client/fs/cat/{alloc_id}?path=alloc/logs/t.stdout.0"
        ))
        .send()
        .await
        .expect("cat")
        .text()
        .await
        .expect("body");
    assert_eq!(out, "started\n");
    let errout = c
        .get(format!(
            "{base}/v1/client/fs/cat/{alloc_id}?path=alloc/logs/t.stderr.0"
        ))
        .send()
        .await
        .expect("cat")
        .text()
        .await
        .expect("body");
    assert_eq!(errout, "oops\n");
    let (s, ls) = get(&c, &format!("{base}/v1/client/fs/ls/{alloc_id}?path=/")).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = ls
        .as_array()
        .expect("present")
        .iter()
        .map(|e| e["Name"].as_str().expect("present"))
        .collect();
    assert_eq!(names, ["alloc", "t"], "{ls}");
    // Errors of the fs API.
    let r = c
        .get(format!("{base}/v1/client/fs/cat/{alloc_id}"))
        .send()
        .await
        .expect("cat");
    assert_eq!(
        (r.status().as_u16(), r.text().await.expect("present")),
        (400, "must provide a file name".into())
    );
    let r = c
        .get(format!(
            "{base}/v1/client/fs/cat/{alloc_id}?path=../../etc/passwd"
        ))
        .send()
        .await
        .expect("cat");
    // A path out of the alloc dir is refused (never the host's file).
    assert!(r.status().is_client_error() || r.status().is_server_error());
    assert!(!r.text().await.expect("body").contains("root:"));

    let pid: u32 = {
        let r = c
            .get(format!(
                "{base}/v1/client/fs/cat/{alloc_id}?path=t/local/pid"
            ))
            .send()
            .await
            .expect("cat");
        r.text().await.expect("body").trim().parse().expect("pid")
    };
    assert!(pid_alive(pid));
    let events: Vec<String> = alloc["TaskStates"]["t"]["Events"]
        .as_array()
        .expect("present")
        .iter()
        .map(|e| e["Type"].as_str().expect("present").to_string())
        .collect();
    assert_eq!(
        events[..3],
        ["Received", "Task Setup", "Started"],
        "{events:?}"
    );

    // Deregister: the process is interrupted, the alloc completes.
    let r = c
        .delete(format!("{base}/v1/job/envjob"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 200);
    let allocs = wait_for(
        &c,
        &format!("{base}/v1/job/envjob/allocations"),
        10,
        "alloc complete",
        |v| v[0]["ClientStatus"] == "complete",
    )
    .await;
    assert_eq!(allocs[0]["DesiredStatus"], "stop");
    let ts = &allocs[0]["TaskStates"]["t"];
    assert_eq!(ts["State"], "dead");
    assert_eq!(ts["Failed"], false);
    let kinds: Vec<&str> = ts["Events"]
        .as_array()
        .expect("present")
        .iter()
        .map(|e| e["Type"].as_str().expect("present"))
        .collect();
    assert!(
        kinds.ends_with(&["Killing", "Terminated", "Killed"]),
        "{kinds:?}"
    );
    let killing = ts["Events"]
        .as_array()
        .expect("present")
        .iter()
        .find(|e| e["Type"] == "Killing")
        .expect("present");
    assert_eq!(
        killing["DisplayMessage"],
        "Sent interrupt. Waiting 2s before force killing"
    );
    assert_eq!(killing["KillTimeout"], 2_000_000_000i64);
    let deadline = Instant::now() + Duration::from_secs(5);
    while pid_alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} survived the stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, job) = get(&c, &format!("{base}/v1/job/envjob")).await;
    assert_eq!(job["Status"], "dead");

    // Shutdown removes the data dir.
    h.shutdown().await;
    assert!(
        !data_dir.exists(),
        "{} survived shutdown",
        data_dir.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_server_task_serves_and_deployment_succeeds_after_min_healthy_time() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    let mut job = raw_exec_job("web", "", fast_update(), json!({}));
    job["TaskGroups"][0]["Tasks"][0]["Config"] = json!({
        "command": "python3",
        "args": ["-m", "http.server", "${NOMAD_PORT_http}", "--bind", "127.0.0.1"],
    });
    let started = Instant::now();
    register(&c, &base, json!({"Job": job})).await;
    let (s, dep) = get(&c, &format!("{base}/v1/job/web/deployment")).await;
    assert_eq!(s, 200);
    assert_eq!(dep["Status"], "running", "{dep}");
    assert_eq!(dep["StatusDescription"], "Deployment is running");
    assert_eq!(dep["JobVersion"], 0);
    assert_eq!(dep["TaskGroups"]["g"]["DesiredTotal"], 1);
    let dep_id = dep["ID"].as_str().expect("present").to_string();

    // A blocking query on the deployment wakes on its changes until it is successful.
    let mut index = dep["ModifyIndex"].as_u64().expect("present");
    let mut wakes = 0;
    let done = loop {
        let r = c
            .get(format!(
                "{base}/v1/deployment/{dep_id}?index={index}&wait=20s"
            ))
            .send()
            .await
            .expect("blocking GET");
        let new_index: u64 = r.headers()["X-Nomad-Index"]
            .to_str()
            .expect("present")
            .parse()
            .expect("present");
        let d: Value = r.json().await.expect("json");
        assert!(
            new_index > index,
            "blocking query returned without a change"
        );
        wakes += 1;
        index = new_index;
        if d["Status"] != "running" {
            break d;
        }
        assert!(wakes < 20);
    };
    assert_eq!(done["Status"], "successful", "{done}");
    assert_eq!(
        done["StatusDescription"],
        "Deployment completed successfully"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "healthy before min_healthy_time"
    );
    let g = &done["TaskGroups"]["g"];
    assert_eq!(
        (
            g["PlacedAllocs"].as_u64(),
            g["HealthyAllocs"].as_u64(),
            g["UnhealthyAllocs"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );

    let (_, allocs) = get(&c, &format!("{base}/v1/deployment/allocations/{dep_id}")).await;
    assert_eq!(allocs[0]["DeploymentStatus"]["Healthy"], true);
    let alloc_id = allocs[0]["ID"].as_str().expect("present");
    let (_, alloc) = get(&c, &format!("{base}/v1/allocation/{alloc_id}")).await;
    let port = alloc["AllocatedResources"]["Shared"]["Ports"][0]["Value"]
        .as_u64()
        .expect("present");
    let r = c
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .expect("the task serves on its port");
    assert_eq!(r.status(), 200);

    let (_, job) = get(&c, &format!("{base}/v1/job/web")).await;
    assert_eq!(job["Stable"], true);
    assert_eq!(job["Status"], "running");
    // The deployment watcher evaluated the job when the deployment ended.
    let (_, evals) = get(&c, &format!("{base}/v1/job/web/evaluations")).await;
    let triggers: Vec<(&str, &str)> = evals
        .as_array()
        .expect("present")
        .iter()
        .map(|e| {
            (
                e["TriggeredBy"].as_str().expect("present"),
                e["DeploymentID"].as_str().expect("present"),
            )
        })
        .collect();
    assert_eq!(
        triggers,
        [
            ("deployment-watcher", dep_id.as_str()),
            ("job-register", dep_id.as_str())
        ]
    );

    // Re-registering the same spec changes nothing.
    let before = get(&c, &format!("{base}/v1/job/web/deployments")).await.1;
    register(&c, &base, json!({"Job": raw_exec_job_with_server()})).await;
    let after = get(&c, &format!("{base}/v1/job/web/deployments")).await.1;
    assert_eq!(
        before.as_array().expect("present").len(),
        after.as_array().expect("present").len()
    );
    let (_, allocs) = get(&c, &format!("{base}/v1/job/web/allocations")).await;
    assert_eq!(allocs.as_array().expect("present").len(), 1, "{allocs}");
    let (_, versions) = get(&c, &format!("{base}/v1/job/web/versions")).await;
    assert_eq!(versions["Versions"].as_array().expect("present").len(), 1);
    h.shutdown().await;
    // The server is gone with the simulator.
    assert!(c
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .is_err());
}

fn raw_exec_job_with_server() -> Value {
    let mut job = raw_exec_job("web", "", fast_update(), json!({}));
    job["TaskGroups"][0]["Tasks"][0]["Config"] = json!({
        "command": "python3",
        "args": ["-m", "http.server", "${NOMAD_PORT_http}", "--bind", "127.0.0.1"],
    });
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_task_fails_alloc_and_deployment_then_auto_reverts() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    let mut update = fast_update();
    update["AutoRevert"] = json!(true);
    let good = raw_exec_job(
        "rev",
        "exec sleep 600",
        update.clone(),
        json!({"Attempts": 0, "Mode": "fail"}),
    );
    register(&c, &base, json!({"Job": good})).await;
    wait_for(
        &c,
        &format!("{base}/v1/job/rev/deployment"),
        15,
        "v0 successful",
        |d| d["Status"] == "successful",
    )
    .await;

    let bad = raw_exec_job(
        "rev",
        "echo boom >&2; exit 1",
        update,
        json!({"Attempts": 0, "Mode": "fail"}),
    );
    register(&c, &base, json!({"Job": bad})).await;
    let failed = wait_for(
        &c,
        &format!("{base}/v1/job/rev/deployments"),
        15,
        "v1 failed",
        |ds| {
            ds.as_array().is_some_and(|ds| {
                ds.iter()
                    .any(|d| d["JobVersion"] == 1 && d["Status"] == "failed")
            })
        },
    )
    .await;
    let d1 = failed
        .as_array()
        .expect("present")
        .iter()
        .find(|d| d["JobVersion"] == 1)
        .expect("present");
    assert_eq!(
        d1["StatusDescription"],
        "Failed due to unhealthy allocations - rolling back to job version 0"
    );
    assert_eq!(d1["TaskGroups"]["g"]["UnhealthyAllocs"], 1);
    assert_eq!(d1["TaskGroups"]["g"]["AutoRevert"], true);

    let (_, allocs) = get(&c, &format!("{base}/v1/job/rev/allocations")).await;
    let bad_alloc = allocs
        .as_array()
        .expect("present")
        .iter()
        .find(|a| a["JobVersion"] == 1)
        .expect("present");
    assert_eq!(bad_alloc["ClientStatus"], "failed");
    assert_eq!(bad_alloc["ClientDescription"], "Failed tasks");
    assert_eq!(bad_alloc["DeploymentStatus"]["Healthy"], false);
    let ts = &bad_alloc["TaskStates"]["t"];
    assert_eq!(
        (ts["State"].as_str(), ts["Failed"].as_bool()),
        (Some("dead"), Some(true))
    );
    let events = ts["Events"].as_array().expect("present");
    let term = events
        .iter()
        .find(|e| e["Type"] == "Terminated")
        .expect("Terminated event");
    assert_eq!(term["ExitCode"], 1);
    assert_eq!(term["DisplayMessage"], "Exit Code: 1");
    assert_eq!(term["Details"]["exit_code"], "1");
    let last = events.last().expect("present");
    assert_eq!(last["Type"], "Not Restarting");
    assert_eq!(
        last["DisplayMessage"],
        "Exceeded allowed attempts 0 in interval 30m0s and mode is \"fail\""
    );
    assert_eq!(last["FailsTask"], true);

    // The revert is a new version (2) equal to version 0, deployed and stable again.
    let (_, versions) = get(&c, &format!("{base}/v1/job/rev/versions")).await;
    let vs = versions["Versions"].as_array().expect("present");
    assert_eq!(vs[0]["Version"], 2);
    assert_eq!(
        vs[0]["TaskGroups"][0]["Tasks"][0]["Config"]["args"][1],
        "exec sleep 600"
    );
    wait_for(
        &c,
        &format!("{base}/v1/job/rev/deployment"),
        15,
        "v2 successful",
        |d| d["JobVersion"] == 2 && d["Status"] == "successful",
    )
    .await;
    let (_, job) = get(&c, &format!("{base}/v1/job/rev")).await;
    assert_eq!(
        (job["Version"].as_u64(), job["Stable"].as_bool()),
        (Some(2), Some(true))
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_task_without_auto_revert_and_restart_attempts() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    // One restart allowed, 200ms apart: two Terminated events, then the failure.
    let job = raw_exec_job(
        "flaky",
        "exit 3",
        fast_update(),
        json!({"Attempts": 1, "Mode": "fail", "Delay": 200_000_000i64, "Interval": 60_000_000_000i64}),
    );
    register(&c, &base, json!({"Job": job})).await;
    let dep = wait_for(
        &c,
        &format!("{base}/v1/job/flaky/deployment"),
        15,
        "failed",
        |d| d["Status"] == "failed",
    )
    .await;
    assert_eq!(
        dep["StatusDescription"],
        "Failed due to unhealthy allocations"
    );
    let (_, allocs) = get(&c, &format!("{base}/v1/job/flaky/allocations")).await;
    let ts = &allocs[0]["TaskStates"]["t"];
    assert_eq!(ts["Restarts"], 1);
    let kinds: Vec<&str> = ts["Events"]
        .as_array()
        .expect("present")
        .iter()
        .map(|e| e["Type"].as_str().expect("present"))
        .collect();
    assert_eq!(
        kinds,
        [
            "Received",
            "Task Setup",
            "Started",
            "Terminated",
            "Restarting",
            "Started",
            "Terminated",
            "Not Restarting"
        ]
    );
    let restarting = &ts["Events"][4];
    assert_eq!(restarting["RestartReason"], "Restart within policy");
    assert!(restarting["DisplayMessage"]
        .as_str()
        .expect("present")
        .starts_with("Task restarting in "));
    // A command that does not exist is a driver failure.
    let mut job = raw_exec_job(
        "nocmd",
        "",
        fast_update(),
        json!({"Attempts": 0, "Mode": "fail"}),
    );
    job["TaskGroups"][0]["Tasks"][0]["Config"] = json!({"command": "/nonexistent/binary"});
    register(&c, &base, json!({"Job": job})).await;
    let allocs = wait_for(
        &c,
        &format!("{base}/v1/job/nocmd/allocations"),
        10,
        "failed",
        |v| v[0]["ClientStatus"] == "failed",
    )
    .await;
    let events = allocs[0]["TaskStates"]["t"]["Events"]
        .as_array()
        .expect("present")
        .clone();
    let df = events
        .iter()
        .find(|e| e["Type"] == "Driver Failure")
        .expect("Driver Failure");
    assert!(
        df["DisplayMessage"]
            .as_str()
            .expect("present")
            .starts_with("failed to launch command with executor"),
        "{df}"
    );
    // A template that cannot render fails the task before it starts, as Nomad's template
    // hook does.
    let mut job = raw_exec_job(
        "badtmpl",
        "exec sleep 600",
        fast_update(),
        json!({"Attempts": 0, "Mode": "fail"}),
    );
    job["TaskGroups"][0]["Tasks"][0]["Templates"] = json!([{
        "EmbeddedTmpl": "{{ nosuchfunction }}",
        "DestPath": "local/out.txt",
    }]);
    register(&c, &base, json!({"Job": job})).await;
    let dep = wait_for(
        &c,
        &format!("{base}/v1/job/badtmpl/deployment"),
        10,
        "failed",
        |d| d["Status"] == "failed",
    )
    .await;
    assert_eq!(
        dep["StatusDescription"],
        "Failed due to unhealthy allocations"
    );
    let (_, allocs) = get(&c, &format!("{base}/v1/job/badtmpl/allocations")).await;
    assert_eq!(allocs[0]["ClientStatus"], "failed");
    let ts = &allocs[0]["TaskStates"]["t"];
    let last = ts["Events"]
        .as_array()
        .expect("present")
        .last()
        .expect("present")
        .clone();
    assert_eq!(last["Type"], "Killing", "{ts}");
    assert_eq!(last["FailsTask"], true);
    assert!(
        last["DisplayMessage"]
            .as_str()
            .expect("present")
            .starts_with("Template failed: "),
        "{last}"
    );
    assert!(!ts["Events"]
        .as_array()
        .expect("present")
        .iter()
        .any(|e| e["Type"] == "Started"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_are_registered_in_consul_with_the_sidecar_and_removed_on_stop() {
    let consul = ConsulSim::start(SimOptions::default())
        .await
        .expect("consul sim");
    let h = NomadSim::start(NomadSimOptions {
        consul_addr: Some(consul.url()),
        ..NomadSimOptions::default()
    })
    .await
    .expect("nomad sim");
    let c = client();
    let base = h.url();
    // The task serves on its port, so the service's TCP check passes.
    let mut job = raw_exec_job(
        "svc",
        "exec python3 -m http.server $NOMAD_PORT_http --bind 127.0.0.1",
        fast_update(),
        json!({}),
    );
    job["TaskGroups"][0]["Services"] = json!([{
        "Name": "web",
        "PortLabel": "http",
        "Tags": ["v1", "${NOMAD_JOB_NAME}"],
        "Meta": {"team": "core"},
        "Checks": [{"Type": "tcp", "Interval": 10_000_000_000i64, "Timeout": 2_000_000_000i64}],
        "Connect": {"SidecarService": {}},
    }, {
        "Name": "native",
        "Provider": "nomad",
        "PortLabel": "http",
        "Tags": ["n1"],
    }]);
    job["TaskGroups"][0]["Tasks"][0]["Services"] =
        json!([{"Name": "web-task", "PortLabel": "http"}]);
    // A sidecar needs the group's single network in bridge mode.
    let r = c
        .post(format!("{base}/v1/jobs"))
        .json(&json!({"Job": job}))
        .send()
        .await
        .expect("register");
    assert_eq!(
        (r.status().as_u16(), r.text().await.expect("body")),
        (
            500,
            "Consul Connect sidecar requires bridge network, found \"host\" in group \"g\""
                .to_string()
        )
    );
    job["TaskGroups"][0]["Networks"][0]["Mode"] = json!("bridge");
    register(&c, &base, json!({"Job": job})).await;
    // The server injected the Envoy sidecar task and its port.
    let (_, stored) = get(&c, &format!("{base}/v1/job/svc")).await;
    let proxy = &stored["TaskGroups"][0]["Tasks"][1];
    assert_eq!(proxy["Name"], "connect-proxy-web", "{stored}");
    assert_eq!(proxy["Kind"], "connect-proxy:web");
    assert_eq!(
        proxy["Lifecycle"],
        json!({"Hook": "prestart", "Sidecar": true})
    );
    assert_eq!(
        stored["TaskGroups"][0]["Networks"][0]["DynamicPorts"][1],
        json!({"Label": "connect-proxy-web", "Value": 0, "To": -1, "HostNetwork": "default"})
    );
    let allocs = wait_for(
        &c,
        &format!("{base}/v1/job/svc/allocations"),
        10,
        "running",
        |v| v[0]["ClientStatus"] == "running",
    )
    .await;
    assert_eq!(
        allocs[0]["TaskStates"]["connect-proxy-web"]["State"],
        "running"
    );
    let alloc_id = allocs[0]["ID"].as_str().expect("present").to_string();
    let (_, alloc) = get(&c, &format!("{base}/v1/allocation/{alloc_id}")).await;
    let ports = alloc["AllocatedResources"]["Shared"]["Ports"]
        .as_array()
        .expect("present")
        .clone();
    let port_of = |l: &str| {
        ports.iter().find(|p| p["Label"] == l).expect("present")["Value"]
            .as_u64()
            .expect("present")
    };

    let svc_url = format!("{}/v1/agent/services", consul.url());
    let services = wait_for(&c, &svc_url, 10, "services in Consul", |v| {
        v.as_object().is_some_and(|m| m.len() >= 3)
    })
    .await;
    let group_id = format!("_nomad-task-{alloc_id}-group-g-web-http");
    let task_id = format!("_nomad-task-{alloc_id}-t-web-task-http");
    let web = &services[&group_id];
    assert_eq!(web["Service"], "web", "{services}");
    assert_eq!(web["Port"], port_of("http"));
    assert_eq!(web["Address"], "127.0.0.1");
    assert_eq!(web["Tags"], json!(["v1", "svc"]));
    assert_eq!(web["Meta"]["team"], "core");
    assert_eq!(web["Meta"]["external-source"], "nomad");
    assert_eq!(services[&task_id]["Service"], "web-task");
    let sidecar = &services[&format!("{group_id}-sidecar-proxy")];
    assert_eq!(sidecar["Kind"], "connect-proxy", "{services}");
    assert_eq!(sidecar["Service"], "web-sidecar-proxy");
    assert_eq!(sidecar["Port"], port_of("connect-proxy-web"));
    assert_eq!(sidecar["Proxy"]["DestinationServiceName"], "web");
    let (_, catalog) = get(&c, &format!("{}/v1/catalog/services", consul.url())).await;
    assert!(
        catalog.get("web").is_some() && catalog.get("web-sidecar-proxy").is_some(),
        "{catalog}"
    );
    let (_, health) = get(&c, &format!("{}/v1/health/service/web", consul.url())).await;
    assert!(
        health[0]["Checks"].as_array().is_some_and(|cs| cs
            .iter()
            .any(|ch| ch["ServiceID"] == group_id.as_str() && ch["Type"] == "tcp")),
        "{health}"
    );
    // The check runs (the simulator probes it for Consul) and passes once the task listens.
    let passing = wait_for(
        &c,
        &format!("{}/v1/health/service/web?passing", consul.url()),
        10,
        "a passing web instance",
        |v| v.as_array().is_some_and(|a| a.len() == 1),
    )
    .await;
    let tcp = passing[0]["Checks"]
        .as_array()
        .expect("present")
        .iter()
        .find(|ch| ch["Type"] == "tcp")
        .expect("tcp check")
        .clone();
    assert_eq!(tcp["Status"], "passing", "{passing}");

    // The `nomad` provider's service is Nomad's own, not Consul's.
    assert!(services
        .as_object()
        .expect("present")
        .values()
        .all(|s| s["Service"] != "native"));
    let (s, native) = get(&c, &format!("{base}/v1/service/native")).await;
    assert_eq!(s, 200);
    assert_eq!(native.as_array().map(Vec::len), Some(1), "{native}");
    assert_eq!(native[0]["ServiceName"], "native");
    assert_eq!(native[0]["Port"], port_of("http"));
    assert_eq!(native[0]["AllocID"], alloc_id.as_str());
    assert_eq!(
        native[0]["ID"],
        format!("_nomad-task-{alloc_id}-group-g-native-http")
    );
    let (_, list) = get(&c, &format!("{base}/v1/services")).await;
    assert_eq!(
        list,
        json!([{"Namespace": "default", "Services": [{"ServiceName": "native", "Tags": ["n1"]}]}])
    );

    c.delete(format!("{base}/v1/job/svc"))
        .send()
        .await
        .expect("stop");
    wait_for(&c, &svc_url, 10, "services gone", |v| {
        v.as_object().is_some_and(|m| m.is_empty())
    })
    .await;
    let (_, native) = get(&c, &format!("{base}/v1/service/native")).await;
    assert_eq!(native, json!([]));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_submission_and_destructive_updates() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    let job = |image: &str| {
        json!({"ID": "p", "Type": "service", "TaskGroups": [{"Name": "g", "Count": 2,
            "Tasks": [{"Name": "t", "Driver": "docker", "Config": {"image": image}}]}]})
    };
    // Plan of a new job: everything placed, nothing stored.
    let r: Value = c
        .post(format!("{base}/v1/job/p/plan"))
        .json(&json!({"Job": job("a"), "Diff": true}))
        .send()
        .await
        .expect("plan")
        .json()
        .await
        .expect("json");
    assert_eq!(r["Annotations"]["DesiredTGUpdates"]["g"]["Place"], 2, "{r}");
    assert_eq!(r["Diff"]["Type"], "Added");
    assert_eq!(r["JobModifyIndex"], 0);
    assert_eq!(get(&c, &format!("{base}/v1/job/p")).await.0, 404);

    let src = "job \"p\" { group \"g\" { count = 2 } }";
    let reg = register(
        &c,
        &base,
        json!({"Job": job("a"), "Submission": {"Source": src, "Format": "hcl2", "Variables": "x = 1", "VariableFlags": {"y": "2"}}}),
    )
    .await;
    let (s, sub) = get(&c, &format!("{base}/v1/job/p/submission?version=0")).await;
    assert_eq!(s, 200);
    assert_eq!(sub["Source"], src);
    assert_eq!(sub["Format"], "hcl2");
    assert_eq!(sub["Variables"], "x = 1");
    assert_eq!(sub["VariableFlags"]["y"], "2");
    assert_eq!(
        (sub["JobID"].as_str(), sub["Version"].as_u64()),
        (Some("p"), Some(0))
    );
    let (s, body) = get(&c, &format!("{base}/v1/job/p/submission?version=7")).await;
    assert_eq!((s, body), (404, json!("job source not found")));

    wait_for(
        &c,
        &format!("{base}/v1/job/p/allocations"),
        10,
        "running",
        |v| {
            v.as_array()
                .is_some_and(|a| a.len() == 2 && a.iter().all(|a| a["ClientStatus"] == "running"))
        },
    )
    .await;
    // Unchanged: ignored; changed: destructive updates.
    let r: Value = c
        .post(format!("{base}/v1/job/p/plan"))
        .json(&json!({"Job": job("a"), "Diff": true}))
        .send()
        .await
        .expect("plan")
        .json()
        .await
        .expect("json");
    assert_eq!(
        r["Annotations"]["DesiredTGUpdates"]["g"]["Ignore"], 2,
        "{r}"
    );
    assert_eq!(r["Diff"]["Type"], "None");
    assert_eq!(r["JobModifyIndex"], reg["JobModifyIndex"]);
    let r: Value = c
        .post(format!("{base}/v1/job/p/plan"))
        .json(&json!({"Job": job("b"), "Diff": true}))
        .send()
        .await
        .expect("plan")
        .json()
        .await
        .expect("json");
    assert_eq!(
        r["Annotations"]["DesiredTGUpdates"]["g"]["DestructiveUpdate"], 2,
        "{r}"
    );
    assert_eq!(r["Diff"]["Type"], "Edited");
    assert_eq!(
        r["Diff"]["TaskGroups"][0]["Tasks"][0]["Annotations"],
        json!(["forces create/destroy update"])
    );

    let (_, before) = get(&c, &format!("{base}/v1/job/p/allocations")).await;
    register(&c, &base, json!({"Job": job("b")})).await;
    let after = wait_for(
        &c,
        &format!("{base}/v1/job/p/allocations"),
        10,
        "replaced",
        |v| {
            v.as_array().is_some_and(|a| {
                a.iter()
                    .filter(|a| a["JobVersion"] == 1 && a["ClientStatus"] == "running")
                    .count()
                    == 2
            })
        },
    )
    .await;
    for old in before.as_array().expect("present") {
        let now = after
            .as_array()
            .expect("present")
            .iter()
            .find(|a| a["ID"] == old["ID"])
            .expect("present");
        assert_eq!(now["DesiredStatus"], "stop");
    }
    let (_, deps) = get(&c, &format!("{base}/v1/job/p/deployments")).await;
    assert_eq!(deps.as_array().expect("present").len(), 2);
    assert_eq!(deps[0]["JobVersion"], 1);
    assert_eq!(deps[1]["Status"], "cancelled");
    assert_eq!(
        deps[1]["StatusDescription"],
        "Cancelled due to newer version of job"
    );
    let (s, _) = get(&c, &format!("{base}/v1/job/p/submission?version=1")).await;
    assert_eq!(s, 404);
    let (s, body) = get(&c, &format!("{base}/v1/job/p/submission")).await;
    assert_eq!(
        (s, body),
        (
            400,
            json!("Unable to parse job submission version parameter")
        )
    );
    let (s, body) = get(
        &c,
        &format!("{base}/v1/deployment/00000000-0000-0000-0000-000000000000"),
    )
    .await;
    assert_eq!((s, body), (404, json!("deployment not found")));
    let (s, body) = get(
        &c,
        &format!("{base}/v1/allocation/00000000-0000-0000-0000-000000000000"),
    )
    .await;
    assert_eq!((s, body), (404, json!("alloc not found")));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_nomad_reads_allocations_and_deployments() {
    let h = sim(false).await;
    run_python(
        "python-nomad",
        "nomad_runtime.py",
        h.addr().to_string(),
        60,
        NOMAD_ENV,
        "runtime script",
    )
    .await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_hooks_order_init_main_and_poststop_tasks() {
    let h = sim(false).await;
    let c = client();
    let base = h.url();
    let task = |name: &str, script: &str, hook: Option<&str>| {
        let mut t = json!({
            "Name": name,
            "Driver": "raw_exec",
            "Config": {"command": "/bin/sh", "args": ["-c", script]},
            "KillTimeout": 1_000_000_000i64,
        });
        if let Some(hook) = hook {
            t["Lifecycle"] = json!({"Hook": hook, "Sidecar": false});
        }
        t
    };
    let job = json!({
        "ID": "life",
        "Type": "service",
        "Update": fast_update(),
        "TaskGroups": [{
            "Name": "g",
            "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
            "Tasks": [
                task("main", "cat \"$NOMAD_ALLOC_DIR/init.txt\" > \"$NOMAD_ALLOC_DIR/main.txt\"; exec sleep 600", None),
                task("init", "sleep 0.5; echo from-init > \"$NOMAD_ALLOC_DIR/init.txt\"", Some("prestart")),
                task("cleanup", "echo cleaned > \"$NOMAD_ALLOC_DIR/cleanup.txt\"", Some("poststop")),
            ]
        }]
    });
    register(&c, &base, json!({"Job": job})).await;
    let allocs = wait_for(
        &c,
        &format!("{base}/v1/job/life/allocations"),
        10,
        "main running",
        |v| v[0]["TaskStates"]["main"]["State"] == "running",
    )
    .await;
    let ts = &allocs[0]["TaskStates"];
    // The init task completed (successfully, not restarted) before main started.
    assert_eq!(ts["init"]["State"], "dead", "{ts}");
    assert_eq!(ts["init"]["Failed"], false);
    assert_eq!(ts["cleanup"]["State"], "pending");
    // A pending poststop task does not keep the allocation pending.
    assert_eq!(allocs[0]["ClientStatus"], "running");
    let alloc_id = allocs[0]["ID"].as_str().expect("present").to_string();
    let cat = |path: &str| {
        let c = c.clone();
        let url = format!("{base}/v1/client/fs/cat/{alloc_id}?path={path}");
        async move {
            let r = c.get(url).send().await.expect("cat");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while cat("alloc/main.txt").await != (200, "from-init\n".to_string()) {
        assert!(
            Instant::now() < deadline,
            "main never saw the init task's file"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(cat("alloc/cleanup.txt").await.0, 500);
    wait_for(
        &c,
        &format!("{base}/v1/job/life/deployment"),
        10,
        "successful",
        |d| d["Status"] == "successful",
    )
    .await;

    // Stopping runs the poststop task, then the allocation is complete.
    c.delete(format!("{base}/v1/job/life"))
        .send()
        .await
        .expect("stop");
    let allocs = wait_for(
        &c,
        &format!("{base}/v1/job/life/allocations"),
        10,
        "complete",
        |v| v[0]["ClientStatus"] == "complete",
    )
    .await;
    let ts = &allocs[0]["TaskStates"];
    assert_eq!(ts["cleanup"]["State"], "dead", "{ts}");
    assert_eq!(ts["cleanup"]["Failed"], false);
    assert_eq!(
        cat("alloc/cleanup.txt").await,
        (200, "cleaned\n".to_string())
    );
    h.shutdown().await;
}
