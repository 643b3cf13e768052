//! `api.Job.Canonicalize` (nomad `api/jobs.go`, `api/tasks.go`, `api/services.go`,
//! `api/resources.go`, `api/consul.go`, `api/scaling.go`) on the job JSON.

use serde_json::{json, Map, Value};

const SEC: i64 = 1_000_000_000;

fn set(m: &mut Map<String, Value>, k: &str, v: Value) {
    if m.get(k).is_none_or(Value::is_null) {
        m.insert(k.to_string(), v);
    }
}

fn is_null(m: &Map<String, Value>, k: &str) -> bool {
    m.get(k).is_none_or(Value::is_null)
}

fn str_of<'m>(m: &'m Map<String, Value>, k: &str) -> &'m str {
    m.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The fields of `o` that are set replace those of `base` (the `Merge` methods).
fn merge(base: &Value, o: &Value) -> Value {
    let mut out = base.as_object().cloned().unwrap_or_default();
    if let Some(o) = o.as_object() {
        for (k, v) in o {
            if !v.is_null() {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Fills each field of `m` that is null from `defaults`.
fn fill(m: &mut Map<String, Value>, defaults: &Value) {
    if let Some(d) = defaults.as_object() {
        for (k, v) in d {
            set(m, k, v.clone());
        }
    }
}

pub(super) fn default_update() -> Value {
    json!({
        "Stagger": 30 * SEC,
        "MaxParallel": 1,
        "HealthCheck": "checks",
        "MinHealthyTime": 10 * SEC,
        "HealthyDeadline": 300 * SEC,
        "ProgressDeadline": 600 * SEC,
        "Canary": 0,
        "AutoRevert": false,
        "AutoPromote": false,
    })
}

/// `NewDefaultReschedulePolicy`.
fn default_reschedule(job_type: &str) -> Value {
    match job_type {
        "service" => json!({
            "Attempts": 0, "Interval": 0, "Delay": 30 * SEC,
            "DelayFunction": "exponential", "MaxDelay": 3600 * SEC, "Unlimited": true,
        }),
        "batch" => json!({
            "Attempts": 1, "Interval": 24 * 3600 * SEC, "Delay": 5 * SEC,
            "DelayFunction": "constant", "MaxDelay": 0, "Unlimited": false,
        }),
        _ => json!({
            "Attempts": 0, "Interval": 0, "Delay": 0,
            "DelayFunction": "", "MaxDelay": 0, "Unlimited": false,
        }),
    }
}

fn default_restart(job_type: &str) -> Value {
    match job_type {
        "service" | "system" => json!({
            "Interval": 1800 * SEC, "Attempts": 2, "Delay": 15 * SEC,
            "Mode": "fail", "RenderTemplates": false,
        }),
        _ => json!({
            "Interval": 24 * 3600 * SEC, "Attempts": 3, "Delay": 15 * SEC,
            "Mode": "fail", "RenderTemplates": false,
        }),
    }
}

/// `UpdateStrategy.Empty`: nothing set to a non-zero value.
fn update_empty(u: &Value) -> bool {
    u.as_object().is_none_or(|m| {
        m.values()
            .all(|v| v.is_null() || v == &json!(0) || v == &json!(false) || v == &json!(""))
    })
}

pub(super) fn canonicalize(job: &mut Map<String, Value>) {
    set(job, "ID", json!(""));
    let id = job["ID"].clone();
    set(job, "Name", id);
    set(job, "ParentID", json!(""));
    set(job, "Namespace", json!("default"));
    set(job, "Priority", json!(50));
    set(job, "Stop", json!(false));
    set(job, "Region", json!("global"));
    set(job, "NodePool", json!(""));
    set(job, "Type", json!("service"));
    set(job, "AllAtOnce", json!(false));
    for k in [
        "ConsulNamespace",
        "VaultNamespace",
        "NomadTokenID",
        "Status",
        "StatusDescription",
    ] {
        set(job, k, json!(""));
    }
    set(job, "Stable", json!(false));
    for k in ["Version", "CreateIndex", "ModifyIndex", "JobModifyIndex"] {
        set(job, k, json!(0));
    }
    let job_type = str_of(job, "Type").to_string();
    if let Some(Value::Object(p)) = job.get_mut("Periodic") {
        set(p, "Enabled", json!(true));
        set(p, "Spec", json!(""));
        set(p, "Specs", json!([]));
        set(p, "SpecType", json!("cron"));
        set(p, "ProhibitOverlap", json!(false));
        if str_of(p, "TimeZone").is_empty() {
            p.insert("TimeZone".into(), json!("UTC"));
        }
    }
    match job.get_mut("Update") {
        Some(Value::Object(u)) => fill(u, &default_update()),
        _ if job_type == "service" => {
            job.insert("Update".into(), default_update());
        }
        _ => {}
    }
    let job_copy = job.clone();
    if let Some(Value::Array(groups)) = job.get_mut("TaskGroups") {
        for g in groups.iter_mut().filter_map(Value::as_object_mut) {
            group(g, &job_copy, &job_type);
        }
    }
    for k in ["Spreads", "Affinities"] {
        weights(job.get_mut(k));
    }
}

fn weights(list: Option<&mut Value>) {
    if let Some(Value::Array(items)) = list {
        for i in items.iter_mut().filter_map(Value::as_object_mut) {
            set(i, "Weight", json!(50));
        }
    }
}

fn group(g: &mut Map<String, Value>, job: &Map<String, Value>, job_type: &str) {
    set(g, "Name", json!(""));
    if is_null(g, "Count") {
        let min = g
            .get("Scaling")
            .and_then(|s| s.get("Min"))
            .filter(|m| !m.is_null())
            .cloned();
        g.insert("Count".into(), min.unwrap_or(json!(1)));
    }
    let count = g["Count"].clone();
    if let Some(Value::Object(s)) = g.get_mut("Scaling") {
        set(s, "Enabled", json!(true));
        set(s, "Min", count);
        if str_of(s, "Type").is_empty() {
            s.insert("Type".into(), json!("horizontal"));
        }
    }
    match g.get_mut("EphemeralDisk") {
        Some(Value::Object(d)) => {
            set(d, "Sticky", json!(false));
            set(d, "Migrate", json!(false));
            set(d, "SizeMB", json!(300));
        }
        _ => {
            g.insert(
                "EphemeralDisk".into(),
                json!({"Sticky": false, "Migrate": false, "SizeMB": 300}),
            );
        }
    }
    if let Some(Value::Object(c)) = g.get_mut("Consul") {
        if str_of(c, "Namespace").is_empty() {
            c.insert(
                "Namespace".into(),
                job.get("ConsulNamespace").cloned().unwrap_or(json!("")),
            );
        }
        if str_of(c, "Cluster").is_empty() {
            c.insert("Cluster".into(), json!("default"));
        }
    }
    // Update: the group's fields over the job's.
    let ju = job.get("Update").filter(|u| !u.is_null());
    let tu = g.get("Update").filter(|u| !u.is_null()).cloned();
    match (ju, tu) {
        (Some(ju), Some(tu)) => {
            g.insert("Update".into(), merge(ju, &tu));
        }
        (Some(ju), None) if !update_empty(ju) => {
            g.insert("Update".into(), ju.clone());
        }
        _ => {}
    }
    if let Some(Value::Object(u)) = g.get_mut("Update") {
        fill(u, &default_update());
    }
    // Reschedule: the group's over the job's, then the type's defaults.
    let jr = job.get("Reschedule").filter(|r| !r.is_null());
    let tr = g.get("ReschedulePolicy").filter(|r| !r.is_null()).cloned();
    match (jr, tr) {
        (Some(jr), Some(tr)) => {
            g.insert("ReschedulePolicy".into(), merge(jr, &tr));
        }
        (Some(jr), None) => {
            g.insert("ReschedulePolicy".into(), jr.clone());
        }
        _ => {}
    }
    if is_null(g, "ReschedulePolicy") && job_type != "system" {
        g.insert("ReschedulePolicy".into(), default_reschedule(job_type));
    }
    if let Some(Value::Object(r)) = g.get_mut("ReschedulePolicy") {
        fill(r, &default_reschedule(job_type));
    }
    // Migrate.
    let jm = job.get("Migrate").filter(|m| !m.is_null());
    let tm = g.get("Migrate").filter(|m| !m.is_null()).cloned();
    match (jm, tm) {
        (Some(jm), Some(tm)) => {
            g.insert("Migrate".into(), merge(jm, &tm));
        }
        (Some(jm), None) => {
            g.insert("Migrate".into(), jm.clone());
        }
        _ => {}
    }
    if is_null(g, "Migrate") && job_type == "service" {
        g.insert("Migrate".into(), json!({}));
    }
    if let Some(Value::Object(m)) = g.get_mut("Migrate") {
        fill(
            m,
            &json!({"MaxParallel": 1, "HealthCheck": "checks",
                    "MinHealthyTime": 10 * SEC, "HealthyDeadline": 300 * SEC}),
        );
    }
    // Restart: the group's over the type's defaults.
    let restart = match g.get("RestartPolicy").filter(|r| !r.is_null()) {
        Some(r) => merge(&default_restart(job_type), r),
        None => default_restart(job_type),
    };
    g.insert("RestartPolicy".into(), restart.clone());

    let g_copy = g.clone();
    if let Some(Value::Array(tasks)) = g.get_mut("Tasks") {
        for t in tasks.iter_mut().filter_map(Value::as_object_mut) {
            task(t, &g_copy, job, &restart);
        }
    }
    for k in ["Spreads", "Affinities"] {
        weights(g.get_mut(k));
    }
    if let Some(Value::Array(svcs)) = g.get_mut("Services") {
        for s in svcs.iter_mut().filter_map(Value::as_object_mut) {
            service(s, None, &g_copy, job);
        }
    }
    if let Some(Value::Object(d)) = g.get_mut("Disconnect") {
        set(d, "Replace", json!(true));
        set(d, "Reconcile", json!("best_score"));
    }
}

fn resources(r: &mut Map<String, Value>) {
    if is_null(r, "Cores") {
        r.insert("Cores".into(), json!(0));
        set(r, "CPU", json!(100));
    }
    set(r, "CPU", json!(0));
    set(r, "MemoryMB", json!(300));
    if let Some(Value::Array(devs)) = r.get_mut("Devices") {
        for d in devs.iter_mut().filter_map(Value::as_object_mut) {
            set(d, "Count", json!(1));
            weights(d.get_mut("Affinities"));
        }
    }
    if let Some(Value::Object(n)) = r.get_mut("NUMA") {
        if str_of(n, "Affinity").is_empty() {
            n.insert("Affinity".into(), json!("none"));
        }
    }
}

fn task(
    t: &mut Map<String, Value>,
    g: &Map<String, Value>,
    job: &Map<String, Value>,
    group_restart: &Value,
) {
    match t.get_mut("Resources") {
        Some(Value::Object(r)) => resources(r),
        _ => {
            let mut r = Map::new();
            for f in super::schema::RESOURCES.fields {
                r.insert(f.0.to_string(), Value::Null);
            }
            resources(&mut r);
            t.insert("Resources".into(), Value::Object(r));
        }
    }
    set(t, "KillTimeout", json!(5 * SEC));
    match t.get_mut("LogConfig") {
        Some(Value::Object(l)) => {
            set(l, "MaxFiles", json!(10));
            set(l, "MaxFileSizeMB", json!(10));
            set(l, "Disabled", json!(false));
        }
        _ => {
            t.insert(
                "LogConfig".into(),
                json!({"MaxFiles": 10, "MaxFileSizeMB": 10, "Enabled": null, "Disabled": false}),
            );
        }
    }
    if let Some(Value::Array(arts)) = t.get_mut("Artifacts") {
        for a in arts.iter_mut().filter_map(Value::as_object_mut) {
            set(a, "GetterMode", json!("any"));
            set(a, "GetterInsecure", json!(false));
            set(a, "GetterSource", json!(""));
            for k in ["GetterOptions", "GetterHeaders"] {
                if a.get(k)
                    .and_then(Value::as_object)
                    .is_some_and(Map::is_empty)
                {
                    a.insert(k.into(), Value::Null);
                }
            }
            if is_null(a, "RelativeDest") {
                let dest = if str_of(a, "GetterMode") == "file" {
                    let src = str_of(a, "GetterSource");
                    let base = src.trim_end_matches('/').rsplit('/').next().unwrap_or("");
                    let base = if base.is_empty() { "." } else { base };
                    format!("local/{base}")
                } else {
                    "local/".to_string()
                };
                a.insert("RelativeDest".into(), json!(dest));
            }
        }
    }
    if let Some(Value::Object(v)) = t.get_mut("Vault") {
        set(v, "Env", json!(true));
        set(v, "DisableFile", json!(false));
        set(v, "Namespace", json!(""));
        if str_of(v, "Cluster").is_empty() {
            v.insert("Cluster".into(), json!("default"));
        }
        set(v, "ChangeMode", json!("restart"));
        set(v, "ChangeSignal", json!("SIGHUP"));
        set(v, "AllowTokenExpiration", json!(false));
    }
    if let Some(Value::Object(c)) = t.get_mut("Consul") {
        if str_of(c, "Cluster").is_empty() {
            c.insert("Cluster".into(), json!("default"));
        }
    }
    if let Some(Value::Array(tmpls)) = t.get_mut("Templates") {
        for tm in tmpls.iter_mut().filter_map(Value::as_object_mut) {
            template(tm);
        }
    }
    let t_copy = t.clone();
    if let Some(Value::Array(svcs)) = t.get_mut("Services") {
        for s in svcs.iter_mut().filter_map(Value::as_object_mut) {
            service(s, Some(&t_copy), g, job);
        }
    }
    weights(t.get_mut("Affinities"));
    if let Some(Value::Array(vms)) = t.get_mut("VolumeMounts") {
        for vm in vms.iter_mut().filter_map(Value::as_object_mut) {
            set(vm, "PropagationMode", json!("private"));
            set(vm, "ReadOnly", json!(false));
            set(vm, "SELinuxLabel", json!(""));
        }
    }
    // `TaskLifecycle.Empty`: no hook means no lifecycle.
    if t.get("Lifecycle")
        .is_some_and(|l| l["Hook"].as_str().unwrap_or("").is_empty())
    {
        t.insert("Lifecycle".into(), Value::Null);
    }
    let restart = match t.get("RestartPolicy").filter(|r| !r.is_null()) {
        Some(r) => merge(group_restart, r),
        None => group_restart.clone(),
    };
    t.insert("RestartPolicy".into(), restart);
}

fn template(tm: &mut Map<String, Value>) {
    set(tm, "SourcePath", json!(""));
    set(tm, "DestPath", json!(""));
    set(tm, "EmbeddedTmpl", json!(""));
    set(tm, "ChangeMode", json!("restart"));
    if is_null(tm, "ChangeSignal") {
        let sig = if str_of(tm, "ChangeMode") == "signal" {
            "SIGHUP"
        } else {
            ""
        };
        tm.insert("ChangeSignal".into(), json!(sig));
    } else {
        let up = str_of(tm, "ChangeSignal").to_uppercase();
        tm.insert("ChangeSignal".into(), json!(up));
    }
    if let Some(Value::Object(cs)) = tm.get_mut("ChangeScript") {
        set(cs, "Command", json!(""));
        set(cs, "Args", json!([]));
        set(cs, "Timeout", json!(5 * SEC));
        set(cs, "FailOnError", json!(false));
    }
    set(tm, "Once", json!(false));
    set(tm, "Splay", json!(5 * SEC));
    set(tm, "Perms", json!("0644"));
    set(tm, "LeftDelim", json!("{{"));
    set(tm, "RightDelim", json!("}}"));
    set(tm, "Envvars", json!(false));
    set(tm, "ErrMissingKey", json!(false));
    set(tm, "VaultGrace", json!(0));
}

fn service(
    s: &mut Map<String, Value>,
    t: Option<&Map<String, Value>>,
    g: &Map<String, Value>,
    job: &Map<String, Value>,
) {
    if str_of(s, "Name").is_empty() {
        let name = match t {
            Some(t) => format!(
                "{}-{}-{}",
                str_of(job, "Name"),
                str_of(g, "Name"),
                str_of(t, "Name")
            ),
            None => format!("{}-{}", str_of(job, "Name"), str_of(g, "Name")),
        };
        s.insert("Name".into(), json!(name));
    }
    for (k, d) in [
        ("AddressMode", "auto"),
        ("OnUpdate", "require_healthy"),
        ("Provider", "consul"),
        ("Cluster", "default"),
    ] {
        if str_of(s, k).is_empty() {
            s.insert(k.into(), json!(d));
        }
    }
    for k in ["Meta", "CanaryMeta", "TaggedAddresses"] {
        if s.get(k)
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            s.insert(k.into(), Value::Null);
        }
    }
    if let Some(Value::Object(c)) = s.get_mut("Connect") {
        connect(c);
    }
    let svc_cr = s.get("CheckRestart").cloned().unwrap_or(Value::Null);
    let on_update = s.get("OnUpdate").cloned().unwrap_or(Value::Null);
    if let Some(Value::Array(checks)) = s.get_mut("Checks") {
        for c in checks.iter_mut().filter_map(Value::as_object_mut) {
            let own = c.get("CheckRestart").cloned().unwrap_or(Value::Null);
            // `CheckRestart.Merge`: the check's set fields over the service's.
            let merged = match (&svc_cr, &own) {
                (Value::Null, o) => o.clone(),
                (base, Value::Null) => base.clone(),
                (base, o) => {
                    let mut m = base.as_object().cloned().unwrap_or_default();
                    if o["Limit"].as_i64().unwrap_or(0) > 0 {
                        m.insert("Limit".into(), o["Limit"].clone());
                    }
                    if !o["Grace"].is_null() {
                        m.insert("Grace".into(), o["Grace"].clone());
                    }
                    if o["IgnoreWarnings"] == json!(true) {
                        m.insert("IgnoreWarnings".into(), json!(true));
                    }
                    Value::Object(m)
                }
            };
            let merged = match merged {
                Value::Object(mut m) => {
                    set(&mut m, "Grace", json!(SEC));
                    Value::Object(m)
                }
                other => other,
            };
            c.insert("CheckRestart".into(), merged);
            for k in [
                "SuccessBeforePassing",
                "FailuresBeforeCritical",
                "FailuresBeforeWarning",
            ] {
                if c.get(k).and_then(Value::as_i64).is_some_and(|n| n < 0) {
                    c.insert(k.into(), json!(0));
                }
            }
            if str_of(c, "OnUpdate").is_empty() {
                c.insert("OnUpdate".into(), on_update.clone());
            }
        }
    }
}

fn connect(c: &mut Map<String, Value>) {
    if let Some(Value::Object(ss)) = c.get_mut("SidecarService") {
        for k in ["Tags"] {
            if ss
                .get(k)
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
            {
                ss.insert(k.into(), Value::Null);
            }
        }
        if ss
            .get("Meta")
            .and_then(Value::as_object)
            .is_some_and(Map::is_empty)
        {
            ss.insert("Meta".into(), Value::Null);
        }
        if let Some(Value::Object(p)) = ss.get_mut("Proxy") {
            if p.get("Upstreams")
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty)
            {
                p.insert("Upstreams".into(), Value::Null);
            }
            if p.get("Config")
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty)
            {
                p.insert("Config".into(), Value::Null);
            }
            if let Some(Value::Array(ups)) = p.get_mut("Upstreams") {
                for u in ups.iter_mut().filter_map(Value::as_object_mut) {
                    if u.get("Config")
                        .and_then(Value::as_object)
                        .is_some_and(Map::is_empty)
                    {
                        u.insert("Config".into(), Value::Null);
                    }
                }
            }
        }
    }
    if let Some(Value::Object(st)) = c.get_mut("SidecarTask") {
        for k in ["Config", "Env", "Meta"] {
            if st
                .get(k)
                .and_then(Value::as_object)
                .is_some_and(Map::is_empty)
            {
                st.insert(k.into(), Value::Null);
            }
        }
        match st.get_mut("Resources") {
            Some(Value::Object(r)) => resources(r),
            _ => {
                let mut r = Map::new();
                for f in super::schema::RESOURCES.fields {
                    r.insert(f.0.to_string(), Value::Null);
                }
                r.insert("CPU".into(), json!(100));
                r.insert("Cores".into(), json!(0));
                r.insert("MemoryMB".into(), json!(300));
                st.insert("Resources".into(), Value::Object(r));
            }
        }
        set(st, "KillTimeout", json!(5 * SEC));
        match st.get_mut("LogConfig") {
            Some(Value::Object(l)) => {
                set(l, "MaxFiles", json!(10));
                set(l, "MaxFileSizeMB", json!(10));
                set(l, "Disabled", json!(false));
            }
            _ => {
                st.insert(
                    "LogConfig".into(),
                    json!({"MaxFiles": 10, "MaxFileSizeMB": 10, "Enabled": null, "Disabled": false}),
                );
            }
        }
        set(st, "ShutdownDelay", json!(0));
    }
}
