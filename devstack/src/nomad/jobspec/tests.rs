//! Unit tests of the jobspec conversion.

use serde_json::json;

use super::*;

fn parse(src: &str) -> Value {
    match parse_jobspec(src, "", false) {
        Ok(v) => v,
        Err(e) => panic!("parse failed: {e}"),
    }
}

fn parse_err(src: &str, vars: &str) -> String {
    match parse_jobspec(src, vars, false) {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e,
    }
}

/// Wraps task lines into a job with one group and one task `t`.
fn task_job(task_body: &str) -> String {
    format!(
        "job \"j\" {{\n  group \"g\" {{\n    task \"t\" {{\n      {task_body}\n    }}\n  }}\n}}\n"
    )
}

#[test]
fn minimal_job_has_every_job_field() {
    let v = parse(&task_job("driver = \"docker\""));
    assert_eq!(v["ID"], "j");
    assert_eq!(v["Name"], "j");
    // Go's encoding of api.Job: unset pointers are null, plain values are zero.
    assert_eq!(v["Region"], Value::Null);
    assert_eq!(v["Dispatched"], false);
    assert_eq!(v["TaskGroups"][0]["Tasks"][0]["ShutdownDelay"], 0);
    assert_eq!(v["TaskGroups"][0]["Tasks"][0]["Leader"], false);
    assert_eq!(v["TaskGroups"][0]["Tasks"][0]["User"], "");
    assert_eq!(v["TaskGroups"][0]["Count"], Value::Null);
    let keys: Vec<&String> = v
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    assert!(!keys.iter().any(|k| k.starts_with('_')), "{keys:?}");
    assert!(keys.iter().any(|k| *k == "JobModifyIndex"), "{keys:?}");
}

#[test]
fn templates_heredocs_and_functions() {
    let src = r#"
locals {
  base  = "app"
  names = [for n in ["a", "b"] : "${local.base}-${n}"]
  tags  = { for i, n in local.names : n => i }
}
job "j" {
  meta = {
    "dotted.key" = "x"
    joined       = join(",", local.names)
    json         = jsonencode({ a = 1 })
    fmt          = format("%s:%03d", "p", 7)
    cond         = length(local.tags) > 1 ? "many" : "few"
    esc          = "$${NOT_INTERPOLATED}"
  }
  group "g" {
    task "t" {
      driver = lower("DOCKER")
      template {
        data = <<-EOF
          line1
            line2 ${upper(local.base)}
          EOF
        destination = "local/x"
      }
      template {
        data        = <<EOF
%{ for n in local.names ~}
${n}
%{ endfor ~}
EOF
        destination = "local/y"
      }
    }
  }
}
"#;
    let v = parse(src);
    assert_eq!(
        v["Meta"],
        json!({
            "dotted.key": "x",
            "joined": "app-a,app-b",
            "json": "{\"a\":1}",
            "fmt": "p:007",
            "cond": "many",
            "esc": "${NOT_INTERPOLATED}",
        })
    );
    let t = &v["TaskGroups"][0]["Tasks"][0];
    assert_eq!(t["Driver"], "docker");
    assert_eq!(t["Templates"][0]["EmbeddedTmpl"], "line1\n  line2 APP\n");
    assert_eq!(t["Templates"][1]["EmbeddedTmpl"], "app-a\napp-b\n");
}

#[test]
fn runtime_interpolations_survive() {
    let v = parse(&task_job(
        r#"driver = "raw_exec"
      config {
        command = "${NOMAD_TASK_DIR}/run.sh"
        args    = ["${node.unique.name}", "${meta.rack}", "${ attr.os.name }"]
      }"#,
    ));
    let c = &v["TaskGroups"][0]["Tasks"][0]["Config"];
    assert_eq!(c["command"], "${NOMAD_TASK_DIR}/run.sh");
    assert_eq!(
        c["args"],
        json!(["${node.unique.name}", "${meta.rack}", "${ attr.os.name }"])
    );
}

#[test]
fn free_form_config_keeps_hcl1_shapes() {
    let v = parse(&task_job(
        r#"driver = "docker"
      config {
        image   = "x"
        count   = 3
        ratio   = 1.5
        labels  = { a = "b" }
        logging {
          type = "syslog"
          config {
            tag = "t"
          }
        }
        mount "bind" {
          target = "/x"
        }
      }"#,
    ));
    assert_eq!(
        v["TaskGroups"][0]["Tasks"][0]["Config"],
        json!({
            "image": "x",
            "count": 3,
            "ratio": 1.5,
            "labels": [{"a": "b"}],
            "logging": [{"type": "syslog", "config": [{"tag": "t"}]}],
            "mount": [{"bind": [{"target": "/x"}]}],
        })
    );
}

#[test]
fn constraints_and_affinities_shortcuts() {
    let src = r#"
job "j" {
  constraint {
    attribute = "${attr.kernel.version}"
    version   = ">= 5.0"
  }
  constraint {
    distinct_property = "${meta.rack}"
    value             = "2"
  }
  constraint {
    attribute = "${node.class}"
    operator  = "!="
    value     = "old"
  }
  affinity {
    attribute = "${node.datacenter}"
    value     = "dc2"
    weight    = 70
  }
  group "g" {
    task "t" {
      driver = "docker"
    }
  }
}
"#;
    let v = parse(src);
    assert_eq!(
        v["Constraints"],
        json!([
            {"LTarget": "${attr.kernel.version}", "RTarget": ">= 5.0", "Operand": "version"},
            {"LTarget": "${meta.rack}", "RTarget": "2", "Operand": "distinct_property"},
            {"LTarget": "${node.class}", "RTarget": "old", "Operand": "!="},
        ])
    );
    assert_eq!(
        v["Affinities"],
        json!([{"LTarget": "${node.datacenter}", "RTarget": "dc2", "Operand": "=", "Weight": 70}])
    );
}

#[test]
fn job_level_task_periodic_and_scaling() {
    let src = r#"
job "cron" {
  type = "batch"
  periodic {
    crons            = ["*/5 * * * *"]
    prohibit_overlap = true
  }
  task "solo" {
    driver = "exec"
    scaling "cpu" {
      max = 500
    }
  }
  group "g" {
    scaling {
      min = 1
      max = 3
    }
    task "t" {
      driver = "exec"
    }
  }
}
"#;
    let v = parse(src);
    assert_eq!(v["Periodic"]["SpecType"], "cron");
    assert_eq!(v["Periodic"]["Specs"], json!(["*/5 * * * *"]));
    let groups = v["TaskGroups"].as_array().cloned().unwrap_or_default();
    assert_eq!(groups.len(), 2);
    // A job-level task becomes its own group, first.
    assert_eq!(groups[0]["Name"], "solo");
    assert_eq!(
        groups[0]["Tasks"][0]["ScalingPolicies"][0]["Type"],
        "vertical_cpu"
    );
    assert_eq!(groups[0]["Tasks"][0]["ScalingPolicies"][0]["Max"], 500);
    assert_eq!(groups[1]["Scaling"]["Type"], "horizontal");
    assert_eq!(groups[1]["Scaling"]["Min"], 1);

    // A group scaling block needs max.
    let e = parse_err(
        "job \"j\" {\n  group \"g\" {\n    scaling {\n      min = 1\n    }\n    task \"t\" {\n      driver = \"exec\"\n    }\n  }\n}\n",
        "",
    );
    assert_eq!(
        e,
        "input.hcl:3,13-13: Missing required argument; The argument \"max\" is required, but no definition was found."
    );
}

#[test]
fn job_and_group_vault_are_inherited() {
    let src = r#"
job "j" {
  vault {
    role = "job-role"
  }
  group "g" {
    vault {
      role = "group-role"
    }
    task "a" {
      driver = "docker"
    }
    task "b" {
      driver = "docker"
      vault {
        role = "own"
      }
    }
  }
  group "h" {
    task "c" {
      driver = "docker"
    }
  }
}
"#;
    let v = parse(src);
    assert_eq!(
        v["TaskGroups"][0]["Tasks"][0]["Vault"]["Role"],
        "group-role"
    );
    assert_eq!(v["TaskGroups"][0]["Tasks"][1]["Vault"]["Role"], "own");
    assert_eq!(v["TaskGroups"][1]["Tasks"][0]["Vault"]["Role"], "job-role");
    assert_eq!(v["TaskGroups"][1]["Tasks"][0]["Vault"]["Env"], true);
}

#[test]
fn type_errors_and_duplicates() {
    let e = parse_err(
        &task_job("driver = \"docker\"\n      kill_timeout = \"soon\""),
        "",
    );
    assert_eq!(
        e,
        "input.hcl:5,23-27: Unsuitable value type; Unsuitable duration value: time: invalid duration \"soon\""
    );
    let e = parse_err(&task_job("driver = [\"docker\"]"), "");
    assert_eq!(
        e,
        "input.hcl:4,16-26: Unsuitable value type; Unsuitable value: string required"
    );
    let e = parse_err(
        &task_job("driver = \"docker\"\n      resources {\n      }\n      resources {\n      }"),
        "",
    );
    assert_eq!(
        e,
        "input.hcl:7,7-16: Duplicate resources block; Only one resources block is allowed. Another was defined at input.hcl:5,7-16."
    );
    let e = parse_err(&task_job("driver = nosuch(1)"), "");
    assert_eq!(
        e,
        "input.hcl:4,16-22: Call to unknown function; There is no function named \"nosuch\"."
    );
}

#[test]
fn variables_types_and_files() {
    let src = r#"
variable "ports" {
  type    = list(number)
  default = [80]
}
variable "flags" {
  type = map(string)
  default = {}
}
job "j" {
  meta {
    first = var.ports[0]
    n     = length(var.flags)
  }
  group "g" {
    task "t" {
      driver = "docker"
    }
  }
}
"#;
    let v = parse_jobspec(src, "ports = [\"8080\", 9090]\nflags = { a = 1 }\n", false)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["Meta"], json!({"first": "8080", "n": "1"}));

    let e = parse_err(src, "variable \"x\" {}\n");
    assert!(
        e.starts_with(
            "input.hcl:1,1-9: Variable declaration in a .var file; A .var file is used to assign values"
        ),
        "{e}"
    );
    let e = parse_err(src, "ports = var.other\n");
    assert_eq!(
        e,
        "input.hcl:1,9-12: Variables not allowed; Variables may not be used here."
    );
    let e = parse_err(src, "flags = merge({}, {})\n");
    assert_eq!(
        e,
        "input.hcl:1,9-22: Function calls not allowed; Functions may not be called here."
    );
}

#[test]
fn syntax_errors_as_hclsyntax_words_them() {
    assert_eq!(
        parse_err("job \"x\" {\n  type = \n}\n", ""),
        "input.hcl:2,10-3,1: Invalid expression; Expected the start of an expression, but found an invalid expression token."
    );
    assert_eq!(
        parse_err("job \"x\" {\n  group \"g\" {\n    count = 1\n}\n", ""),
        "input.hcl:1,9-10: Unclosed configuration block; There is no closing brace for this block before the end of the file. This may be caused by incorrect brace nesting elsewhere in this file."
    );
    assert_eq!(
        parse_err("job \"x\" {\n  a = 1 b = 2\n}\n", ""),
        "input.hcl:2,9-10: Missing newline after argument; An argument definition must end with a newline."
    );
}

#[test]
fn task_scaling_names() {
    let e = parse_err(
        &task_job("driver = \"docker\"\n      scaling \"disk\" {\n        max = 1\n      }"),
        "",
    );
    assert_eq!(
        e,
        "input.hcl:5,15-21: Invalid scaling policy name; scaling policy name must be \"cpu\" or \"mem\""
    );
}

#[test]
fn function_set_is_nomads() {
    // File functions are disabled on the parse endpoint.
    let e = parse_err(&task_job("driver = file(\"run.sh\")"), "");
    assert_eq!(
        e,
        "input.hcl:4,16-21: Error in function call; Call to function \"file\" failed: filesystem function disabled."
    );
    // cty's conversion functions are not registered by jobspec2.
    let e = parse_err(&task_job("driver = tostring(\"x\")"), "");
    assert_eq!(
        e,
        "input.hcl:4,16-24: Call to unknown function; There is no function named \"tostring\"."
    );
    let e = parse_err(&task_job("driver = uper(\"x\")"), "");
    assert_eq!(
        e,
        "input.hcl:4,16-20: Call to unknown function; There is no function named \"uper\". Did you mean \"upper\"?"
    );
    let e = parse_err(&task_job("driver = upper(\"a\", \"b\")"), "");
    assert_eq!(
        e,
        "input.hcl:4,27-30: Too many function arguments; Function \"upper\" expects only 1 argument(s)."
    );
    let e = parse_err(&task_job("driver = replace(\"a\", \"b\")"), "");
    assert_eq!(
        e,
        "input.hcl:4,32-33: Not enough function arguments; Function \"replace\" expects 3 argument(s). Missing value for \"replace\"."
    );
    let v = parse(&task_job(
        "driver = try(var.nope, \"fallback\")\n      user = can(var.nope) ? \"a\" : \"b\"",
    ));
    assert_eq!(v["TaskGroups"][0]["Tasks"][0]["Driver"], "fallback");
    assert_eq!(v["TaskGroups"][0]["Tasks"][0]["User"], "b");
}

#[test]
fn dynamic_blocks_expand() {
    let src = r#"
variable "ports" {
  default = { http = 8080, metrics = 9102 }
}
job "j" {
  group "g" {
    network {
      dynamic "port" {
        for_each = var.ports
        labels   = [port.key]
        content {
          to = port.value
        }
      }
    }
    task "t" {
      driver = "docker"
      dynamic "template" {
        for_each = ["a", "b"]
        iterator = f
        content {
          data        = "file ${f.value}"
          destination = "local/${f.key}"
        }
      }
    }
  }
}
"#;
    let v = parse(src);
    let ports = &v["TaskGroups"][0]["Networks"][0]["DynamicPorts"];
    assert_eq!(ports[0]["Label"], "http");
    assert_eq!(ports[0]["To"], 8080);
    assert_eq!(ports[1]["Label"], "metrics");
    assert_eq!(ports[1]["To"], 9102);
    let tm = &v["TaskGroups"][0]["Tasks"][0]["Templates"];
    assert_eq!(tm[0]["EmbeddedTmpl"], "file a");
    assert_eq!(tm[1]["DestPath"], "local/1");

    // Generated blocks are checked against the schema like written ones.
    let e = parse_err(
        &task_job("driver = \"docker\"\n      dynamic \"template\" {\n        for_each = [1]\n        content {\n          bogus = 1\n        }\n      }"),
        "",
    );
    assert_eq!(
        e,
        "input.hcl:8,11-16: Unsupported argument; An argument named \"bogus\" is not expected here."
    );
}

#[test]
fn variable_validation_rules() {
    let src = r#"variable "replicas" {
  type    = number
  default = 1
  validation {
    condition     = var.replicas > 0 && var.replicas < 10
    error_message = "Replicas must be 1 to 9."
  }
}
job "j" {
  group "g" {
    count = var.replicas
    task "t" {
      driver = "docker"
    }
  }
}
"#;
    assert_eq!(parse(src)["TaskGroups"][0]["Count"], 1);
    let v = parse_jobspec(src, "replicas = 4\n", false).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["TaskGroups"][0]["Count"], 4);
    let e = parse_err(src, "replicas = 40\n");
    assert_eq!(
        e,
        "input.hcl:1,12-14: Invalid value for varfile variable; Replicas must be 1 to 9.\n\nThis was checked by the validation rule at input.hcl:4,3-13."
    );
}
