//! `/v1/jobs/parse` of the Nomad simulator: HCL2 jobspecs (with variables) become the
//! `api.Job` JSON, which registers as is; errors are Nomad's hcl diagnostics. The
//! third-party `python-nomad` client drives it too (tests/py/nomad_jobs_parse.py).

mod common;

use common::{client, nomad_sim as sim, run_python, NOMAD_ENV};
use serde_json::{json, Value};
use stack_devstack::nomad::NomadSimHandle;

const SEC: i64 = 1_000_000_000;

/// POSTs to `/v1/jobs/parse`; returns the status and the body.
async fn parse(h: &NomadSimHandle, req: Value) -> (u16, String) {
    let r = client()
        .post(format!("{}/v1/jobs/parse", h.url()))
        .json(&req)
        .send()
        .await
        .expect("request");
    let s = r.status().as_u16();
    (s, r.text().await.expect("body"))
}

async fn parse_ok(h: &NomadSimHandle, req: Value) -> Value {
    let (s, body) = parse(h, req).await;
    assert_eq!(s, 200, "{body}");
    serde_json::from_str(&body).expect("json job")
}

const FULL: &str = r#"
variable "image" {
  type    = string
  default = "redis:7"
}

variable "replicas" {
  type    = number
  default = 2
}

locals {
  service_name = "${lower(var.image) == "redis:7" ? "cache" : "other"}-svc"
}

job "web" {
  datacenters = ["dc1"]
  type        = "service"

  meta {
    owner = "team-a"
  }

  constraint {
    attribute = "${attr.kernel.name}"
    value     = "linux"
  }

  update {
    max_parallel     = 2
    min_healthy_time = "5s"
    healthy_deadline = "2m"
    auto_revert      = true
  }

  group "app" {
    count = var.replicas

    network {
      mode = "bridge"
      port "http" {
        to = 8080
      }
      port "admin" {
        static = 9000
      }
    }

    restart {
      attempts = 5
      delay    = "10s"
    }

    service {
      name = local.service_name
      port = "http"
      tags = ["a", "b"]

      check {
        type     = "http"
        path     = "/health"
        interval = "10s"
        timeout  = "2s"
      }

      connect {
        sidecar_service {}
      }
    }

    task "server" {
      driver = "docker"

      config {
        image = var.image
        ports = ["http"]
        args  = ["--port", "${NOMAD_PORT_http}"]
      }

      env {
        MODE = upper("prod")
        PORT = 8080
      }

      resources {
        cpu    = 200
        memory = 256
      }

      vault {
        role = "web"
      }

      identity {
        env = true
      }

      template {
        data        = <<-EOT
          {{ with secret "kv/data/web" }}PASS={{ .Data.data.pass }}{{ end }}
          EOT
        destination = "${NOMAD_SECRETS_DIR}/app.env"
        env         = true
        change_mode = "restart"
      }
    }
  }
}
"#;

#[tokio::test]
async fn full_service_job_round_trips() {
    let h = sim(false).await;
    let job = parse_ok(&h, json!({"JobHCL": FULL, "Canonicalize": false})).await;

    assert_eq!(job["ID"], "web");
    assert_eq!(job["Name"], "web");
    assert_eq!(job["Type"], "service");
    assert_eq!(job["Datacenters"], json!(["dc1"]));
    // Not canonicalized: unset pointers stay null.
    assert_eq!(job["Region"], Value::Null);
    assert_eq!(job["Priority"], Value::Null);
    assert_eq!(job["Meta"], json!({"owner": "team-a"}));
    assert_eq!(
        job["Constraints"],
        json!([{"LTarget": "${attr.kernel.name}", "RTarget": "linux", "Operand": "="}])
    );
    assert_eq!(job["Update"]["MaxParallel"], 2);
    assert_eq!(job["Update"]["MinHealthyTime"], 5 * SEC);
    assert_eq!(job["Update"]["HealthyDeadline"], 120 * SEC);
    assert_eq!(job["Update"]["AutoRevert"], true);
    assert_eq!(job["Update"]["Stagger"], Value::Null);

    let g = &job["TaskGroups"][0];
    assert_eq!(g["Name"], "app");
    assert_eq!(g["Count"], 2);
    assert_eq!(g["RestartPolicy"]["Attempts"], 5);
    assert_eq!(g["RestartPolicy"]["Delay"], 10 * SEC);
    let net = &g["Networks"][0];
    assert_eq!(net["Mode"], "bridge");
    assert_eq!(net["DynamicPorts"][0]["Label"], "http");
    assert_eq!(net["DynamicPorts"][0]["To"], 8080);
    // A static port is a reserved port.
    assert_eq!(net["ReservedPorts"][0]["Label"], "admin");
    assert_eq!(net["ReservedPorts"][0]["Value"], 9000);
    let svc = &g["Services"][0];
    assert_eq!(svc["Name"], "cache-svc");
    assert_eq!(svc["PortLabel"], "http");
    assert_eq!(svc["Tags"], json!(["a", "b"]));
    assert_eq!(svc["Checks"][0]["Type"], "http");
    assert_eq!(svc["Checks"][0]["Interval"], 10 * SEC);
    assert_eq!(svc["Checks"][0]["Timeout"], 2 * SEC);
    assert!(svc["Connect"]["SidecarService"].is_object(), "{svc}");

    let t = &g["Tasks"][0];
    assert_eq!(t["Name"], "server");
    assert_eq!(t["Driver"], "docker");
    assert_eq!(
        t["Config"],
        json!({"image": "redis:7", "ports": ["http"], "args": ["--port", "${NOMAD_PORT_http}"]})
    );
    // Env values are strings.
    assert_eq!(t["Env"], json!({"MODE": "PROD", "PORT": "8080"}));
    assert_eq!(t["Resources"]["CPU"], 200);
    assert_eq!(t["Resources"]["MemoryMB"], 256);
    assert_eq!(t["Vault"]["Role"], "web");
    // jobspec2 normalizes vault blocks even without canonicalization.
    assert_eq!(t["Vault"]["Env"], true);
    assert_eq!(t["Vault"]["ChangeMode"], "restart");
    // The unnamed identity is the default one.
    assert_eq!(t["Identity"]["Env"], true);
    assert_eq!(t["Identities"], json!([]));
    let tmpl = &t["Templates"][0];
    assert_eq!(
        tmpl["EmbeddedTmpl"],
        "{{ with secret \"kv/data/web\" }}PASS={{ .Data.data.pass }}{{ end }}\n"
    );
    assert_eq!(tmpl["DestPath"], "${NOMAD_SECRETS_DIR}/app.env");
    assert_eq!(tmpl["Envvars"], true);
    assert_eq!(tmpl["ChangeMode"], "restart");
    assert_eq!(tmpl["Splay"], 5 * SEC);
    assert_eq!(tmpl["Perms"], "0644");

    // The parsed JSON registers as is.
    let r = client()
        .post(format!("{}/v1/jobs", h.url()))
        .json(&json!({"Job": job}))
        .send()
        .await
        .expect("register");
    let status = r.status().as_u16();
    let body = r.text().await.expect("body");
    assert_eq!(status, 200, "{body}");
    let reg: Value = serde_json::from_str(&body).expect("json");
    assert!(!reg["EvalID"].as_str().unwrap_or("").is_empty(), "{reg}");
    let got: Value = client()
        .get(format!("{}/v1/job/web", h.url()))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(
        got["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "redis:7"
    );
    assert_eq!(got["TaskGroups"][0]["Count"], 2);
}

#[tokio::test]
async fn canonicalize_applies_api_defaults() {
    let h = sim(false).await;
    let src = r#"
job "batchy" {
  type = "batch"
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
"#;
    let job = parse_ok(&h, json!({"JobHCL": src, "Canonicalize": true})).await;
    assert_eq!(job["ID"], "batchy");
    assert_eq!(job["Namespace"], "default");
    assert_eq!(job["Region"], "global");
    assert_eq!(job["Priority"], 50);
    assert_eq!(job["Type"], "batch");
    assert_eq!(job["Stop"], false);
    assert_eq!(job["AllAtOnce"], false);
    // Batch jobs get no update strategy.
    assert_eq!(job["Update"], Value::Null);
    let g = &job["TaskGroups"][0];
    assert_eq!(g["Count"], 1);
    assert_eq!(
        g["EphemeralDisk"],
        json!({"Sticky": false, "Migrate": false, "SizeMB": 300})
    );
    assert_eq!(
        g["RestartPolicy"],
        json!({"Interval": 24 * 3600 * SEC, "Attempts": 3, "Delay": 15 * SEC,
               "Mode": "fail", "RenderTemplates": false})
    );
    assert_eq!(
        g["ReschedulePolicy"],
        json!({"Attempts": 1, "Interval": 24 * 3600 * SEC, "Delay": 5 * SEC,
               "DelayFunction": "constant", "MaxDelay": 0, "Unlimited": false})
    );
    assert_eq!(g["Migrate"], Value::Null);
    let t = &g["Tasks"][0];
    assert_eq!(t["Resources"]["CPU"], 100);
    assert_eq!(t["Resources"]["Cores"], 0);
    assert_eq!(t["Resources"]["MemoryMB"], 300);
    assert_eq!(t["KillTimeout"], 5 * SEC);
    assert_eq!(
        t["LogConfig"],
        json!({"MaxFiles": 10, "MaxFileSizeMB": 10, "Enabled": null, "Disabled": false})
    );
    assert_eq!(t["RestartPolicy"], g["RestartPolicy"]);

    // A service job: the job's update block is merged into the group's, defaults fill the rest.
    let src = r#"
job "svc" {
  update {
    max_parallel = 3
  }
  group "g" {
    update {
      canary = 1
    }
    service {
      port = "http"
    }
    task "t" {
      driver = "docker"
      template {
        data        = "x"
        destination = "local/x"
        change_mode = "signal"
      }
    }
  }
}
"#;
    let job = parse_ok(&h, json!({"JobHCL": src, "Canonicalize": true})).await;
    assert_eq!(job["Update"]["MaxParallel"], 3);
    assert_eq!(job["Update"]["Stagger"], 30 * SEC);
    let g = &job["TaskGroups"][0];
    assert_eq!(g["Update"]["MaxParallel"], 3);
    assert_eq!(g["Update"]["Canary"], 1);
    assert_eq!(g["Update"]["HealthCheck"], "checks");
    assert_eq!(g["Update"]["ProgressDeadline"], 600 * SEC);
    assert_eq!(g["ReschedulePolicy"]["DelayFunction"], "exponential");
    assert_eq!(g["ReschedulePolicy"]["Unlimited"], true);
    assert_eq!(g["Migrate"]["MaxParallel"], 1);
    assert_eq!(g["RestartPolicy"]["Attempts"], 2);
    assert_eq!(g["RestartPolicy"]["Interval"], 1800 * SEC);
    // Group services are named job-group; provider and modes default.
    assert_eq!(g["Services"][0]["Name"], "svc-g");
    assert_eq!(g["Services"][0]["Provider"], "consul");
    assert_eq!(g["Services"][0]["AddressMode"], "auto");
    assert_eq!(g["Services"][0]["OnUpdate"], "require_healthy");
    let tm = &g["Tasks"][0]["Templates"][0];
    assert_eq!(tm["ChangeSignal"], "SIGHUP");
    assert_eq!(tm["LeftDelim"], "{{");
    assert_eq!(tm["SourcePath"], "");
}

const WITH_VARS: &str = r#"
variable "image" {
  type    = string
  default = "redis:7"
}

variable "replicas" {
  type = number
  default = 1
}

job "v" {
  group "g" {
    count = var.replicas
    task "t" {
      driver = "docker"
      config {
        image = "${var.image}-alpine"
      }
    }
  }
}
"#;

#[tokio::test]
async fn variables_defaults_overrides_and_errors() {
    let h = sim(false).await;

    // Defaults.
    let job = parse_ok(&h, json!({"JobHCL": WITH_VARS})).await;
    let t = &job["TaskGroups"][0]["Tasks"][0];
    assert_eq!(t["Config"]["image"], "redis:7-alpine");
    assert_eq!(job["TaskGroups"][0]["Count"], 1);

    // Values from the variable file win, converted to the declared type.
    let job = parse_ok(
        &h,
        json!({"JobHCL": WITH_VARS, "Variables": "image = \"nginx\"\nreplicas = \"3\"\n"}),
    )
    .await;
    assert_eq!(
        job["TaskGroups"][0]["Tasks"][0]["Config"]["image"],
        "nginx-alpine"
    );
    assert_eq!(job["TaskGroups"][0]["Count"], 3);

    // A value for an undeclared variable is only a warning on this endpoint (not strict).
    let job = parse_ok(&h, json!({"JobHCL": WITH_VARS, "Variables": "nope = 1\n"})).await;
    assert_eq!(job["ID"], "v");

    // ...but it is listed with the errors when there are any.
    let (s, body) = parse(
        &h,
        json!({"JobHCL": WITH_VARS, "Variables": "nope = 1\nreplicas = \"many\"\n"}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        body,
        "Failed to parse job: <nil>: Undefined variable; A \"nope\" variable was set but was not found in known variables. To declare variable \"nope\", place this block in your job files\n\
         input.hcl:2,12-18: Invalid value for variable; The value for replicas is not compatible with the variable's type constraint: a number is required."
    );

    // A reference to an undeclared variable.
    let src = "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = var.driver\n    }\n  }\n}\n";
    let (s, body) = parse(&h, json!({"JobHCL": src})).await;
    assert_eq!(s, 400);
    assert_eq!(
        body,
        "Failed to parse job: input.hcl:4,19-26: Unsupported attribute; This object does not have an attribute named \"driver\"."
    );

    // A declared variable without a default and without a value.
    let src = "variable \"region\" {}\njob \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n    }\n  }\n}\n";
    let (s, body) = parse(&h, json!({"JobHCL": src})).await;
    assert_eq!(s, 400);
    assert_eq!(
        body,
        "Failed to parse job: <nil>: Unset variable \"region\"; A used variable must be set or have a default value; see https://developer.hashicorp.com/nomad/docs/job-specification/hcl2/variables for details."
    );

    // A variable file that does not parse.
    let (s, body) = parse(&h, json!({"JobHCL": WITH_VARS, "Variables": "image = \n"})).await;
    assert_eq!(s, 400);
    assert!(
        body.starts_with("Failed to parse job: unable to parse var content: input.hcl:1,"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_keys_and_blocks_are_positioned_errors() {
    let h = sim(false).await;
    let src = r#"job "x" {
  group "g" {
    foo = 1
    task "t" {
      driver = "docker"
      resources {
        cpu = "lots"
      }
      bogus {}
    }
  }
}
"#;
    let (s, body) = parse(&h, json!({"JobHCL": src})).await;
    assert_eq!(s, 400);
    assert_eq!(
        body,
        "Failed to parse job: input.hcl:3,5-8: Unsupported argument; An argument named \"foo\" is not expected here.\n\
         input.hcl:9,7-12: Unsupported block type; Blocks of type \"bogus\" are not expected here. Did you mean \"logs\"?\n\
         input.hcl:7,16-20: Unsuitable value type; Unsuitable value: a number is required"
    );

    // A near miss gets a suggestion; a block written as an argument is pointed out.
    let src = "job \"x\" {\n  datacenter = [\"dc1\"]\n  group \"g\" {\n    network = {}\n    task \"t\" {\n      driver = \"docker\"\n    }\n  }\n}\n";
    let (s, body) = parse(&h, json!({"JobHCL": src})).await;
    assert_eq!(s, 400);
    assert_eq!(
        body,
        "Failed to parse job: input.hcl:2,3-13: Unsupported argument; An argument named \"datacenter\" is not expected here. Did you mean \"datacenters\"?\n\
         input.hcl:4,5-12: Unsupported argument; An argument named \"network\" is not expected here. Did you mean to define a block of type \"network\"?"
    );

    // A group without its label.
    let src = "job \"x\" {\n  group {\n  }\n}\n";
    let (s, body) = parse(&h, json!({"JobHCL": src})).await;
    assert_eq!(s, 400);
    assert_eq!(
        body,
        "Failed to parse job: input.hcl:2,9-10: Missing name for group; All group blocks must have 1 labels (name)."
    );

    // No job block at all.
    let (s, body) = parse(
        &h,
        json!({"JobHCL": "variable \"a\" {\n  default = 1\n}\n"}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        body,
        "Failed to parse job: <nil>: Missing job block; A job block is required"
    );

    // An unknown top-level block.
    let (s, body) = parse(&h, json!({"JobHCL": "jobs \"x\" {\n}\n"})).await;
    assert_eq!(s, 400);
    assert_eq!(
        body,
        "Failed to parse job: input.hcl:1,1-5: Unsupported block type; Blocks of type \"jobs\" are not expected here. Did you mean \"job\"?"
    );

    // A syntax error carries its position.
    let (s, body) = parse(&h, json!({"JobHCL": "job \"x\" {\n  type = \n}\n"})).await;
    assert_eq!(s, 400);
    assert!(
        body.starts_with("Failed to parse job: input.hcl:2,"),
        "{body}"
    );
}

#[tokio::test]
async fn request_validation_and_methods() {
    let h = sim(false).await;
    let url = format!("{}/v1/jobs/parse", h.url());
    let (s, body) = parse(&h, json!({"JobHCL": ""})).await;
    assert_eq!((s, body.as_str()), (400, "Job spec is empty"));
    let (s, body) = parse(&h, json!({})).await;
    assert_eq!((s, body.as_str()), (400, "Job spec is empty"));
    let (s, body) = parse(&h, json!({"JobHCL": 5})).await;
    assert_eq!(
        (s, body.as_str()),
        (
            400,
            "json: cannot unmarshal number into Go struct field JobsParseRequest.JobHCL of type string"
        )
    );
    // PUT works as POST; GET and DELETE are 405.
    let r = client()
        .put(&url)
        .json(&json!({"JobHCL": "job \"p\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n    }\n  }\n}\n"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status().as_u16(), 200);
    for m in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = client().request(m, &url).send().await.expect("request");
        assert_eq!(r.status().as_u16(), 405);
        assert_eq!(r.text().await.expect("body"), "Invalid method");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_nomad_jobs_parse() {
    let h = sim(false).await;
    run_python(
        "python-nomad",
        "nomad_jobs_parse.py",
        h.addr().to_string(),
        30,
        NOMAD_ENV,
        "jobs.parse",
    )
    .await;
}
