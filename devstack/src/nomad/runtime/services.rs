//! Service registration of an allocation's `service` blocks in Consul through the agent API,
//! the way Nomad's Consul service client does it (IDs from `MakeAllocServiceID`, the
//! `external-source: nomad` meta, checks, the Connect sidecar), and Nomad-native services
//! (`provider = "nomad"`) kept in the simulator's own state.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::super::Inner;
use super::runner::interpolate;

/// A service to register: its definition and who owns it (a task, or `group-<name>`).
pub(crate) struct AllocService {
    pub owner: String,
    pub def: Value,
}

/// Every `service` block of the group and its tasks.
pub(crate) fn alloc_services(group: &Value) -> Vec<AllocService> {
    let mut out = Vec::new();
    let gname = group["Name"].as_str().unwrap_or("");
    for s in group["Services"].as_array().into_iter().flatten() {
        out.push(AllocService {
            owner: format!("group-{gname}"),
            def: s.clone(),
        });
    }
    for t in group["Tasks"].as_array().into_iter().flatten() {
        let tname = t["Name"].as_str().unwrap_or("");
        for s in t["Services"].as_array().into_iter().flatten() {
            out.push(AllocService {
                owner: tname.to_string(),
                def: s.clone(),
            });
        }
    }
    out
}

/// The host port of a port label (or a literal port number).
fn port_of(ports: &[Value], label: &str) -> u64 {
    if let Ok(n) = label.parse::<u64>() {
        return n;
    }
    ports
        .iter()
        .find(|p| p["Label"] == label)
        .and_then(|p| p["Value"].as_u64())
        .unwrap_or(0)
}

/// A Go duration in nanoseconds as the string Consul's agent API accepts.
fn dur(v: &Value) -> String {
    super::go_duration(v.as_i64().unwrap_or(0))
}

/// The agent registration of one service (`api.AgentServiceRegistration`).
pub(crate) fn registration(
    alloc_id: &str,
    svc: &AllocService,
    ports: &[Value],
    env: &BTreeMap<String, String>,
) -> (String, Value) {
    let d = &svc.def;
    let name = interpolate(d["Name"].as_str().unwrap_or(""), env);
    let label = d["PortLabel"].as_str().unwrap_or("");
    let id = format!("_nomad-task-{alloc_id}-{}-{name}-{label}", svc.owner);
    let port = if label.is_empty() {
        0
    } else {
        port_of(ports, label)
    };
    let tags: Vec<String> = d["Tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|t| interpolate(t, env))
        .collect();
    let mut meta = Map::new();
    for (k, v) in d["Meta"].as_object().into_iter().flatten() {
        meta.insert(k.clone(), json!(interpolate(v.as_str().unwrap_or(""), env)));
    }
    meta.insert("external-source".into(), json!("nomad"));
    let mut checks = Vec::new();
    for (i, c) in d["Checks"].as_array().into_iter().flatten().enumerate() {
        let kind = c["Type"].as_str().unwrap_or("");
        let cport = match c["PortLabel"].as_str() {
            Some(l) if !l.is_empty() => port_of(ports, l),
            _ => port,
        };
        let cname = c["Name"]
            .as_str()
            .filter(|n| !n.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("service: \"{name}\" check"));
        let mut check = json!({
            "CheckID": format!("_nomad-check-{}", crate::consul::uuid_v4().replace('-', "")),
            "Name": cname,
            "Interval": dur(&c["Interval"]),
            "Timeout": dur(&c["Timeout"]),
        });
        match kind {
            "http" => {
                let proto = c["Protocol"]
                    .as_str()
                    .filter(|p| !p.is_empty())
                    .unwrap_or("http");
                let path = c["Path"].as_str().unwrap_or("/");
                check["HTTP"] = json!(format!("{proto}://127.0.0.1:{cport}{path}"));
                check["Method"] = c["Method"].clone();
            }
            "tcp" => check["TCP"] = json!(format!("127.0.0.1:{cport}")),
            "grpc" => check["GRPC"] = json!(format!("127.0.0.1:{cport}")),
            "script" => {
                // Nomad runs script checks itself and reports them to Consul as TTL checks.
                check = json!({
                    "CheckID": check["CheckID"], "Name": check["Name"],
                    "TTL": super::go_duration(c["Interval"].as_i64().unwrap_or(10_000_000_000) * 2),
                });
            }
            _ => continue,
        }
        let _ = i;
        checks.push(check);
    }
    let mut reg = json!({
        "ID": id,
        "Name": name,
        "Tags": tags,
        "Port": port,
        "Address": "127.0.0.1",
        "Meta": meta,
        "Checks": checks,
    });
    if d["Connect"]["SidecarService"].is_object() {
        let sc = &d["Connect"]["SidecarService"];
        let proxy_label = sc["Port"]
            .as_str()
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| format!("connect-proxy-{name}"));
        let proxy_port = port_of(ports, &proxy_label);
        let mut upstreams = Vec::new();
        for u in sc["Proxy"]["Upstreams"].as_array().into_iter().flatten() {
            upstreams.push(json!({
                "DestinationName": u["DestinationName"],
                "LocalBindPort": u["LocalBindPort"],
                "Datacenter": u["Datacenter"].as_str().unwrap_or(""),
                "LocalBindAddress": u["LocalBindAddress"].as_str().unwrap_or(""),
            }));
        }
        reg["Connect"] = json!({
            "SidecarService": {
                "Port": proxy_port,
                "Address": "127.0.0.1",
                "Tags": sc["Tags"],
                "Proxy": {
                    "LocalServiceAddress": "127.0.0.1",
                    "LocalServicePort": port,
                    "Upstreams": upstreams,
                },
            }
        });
    }
    (id, reg)
}

fn consul_req(
    inner: &Inner,
    method: reqwest::Method,
    path: &str,
) -> Option<reqwest::RequestBuilder> {
    let base = inner.opts.consul_addr.as_deref()?;
    let base = if base.starts_with("http://") || base.starts_with("https://") {
        base.trim_end_matches('/').to_string()
    } else {
        format!("http://{}", base.trim_end_matches('/'))
    };
    let mut rb = inner.runtime.http.request(method, format!("{base}{path}"));
    if let Some(t) = inner.opts.consul_token.as_deref().filter(|t| !t.is_empty()) {
        rb = rb.header("X-Consul-Token", t);
    }
    Some(rb)
}

/// Registers the services in Consul; returns the IDs registered and the errors met.
pub(crate) async fn register(
    inner: &Inner,
    regs: &[(String, Value)],
) -> (Vec<String>, Vec<String>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (id, reg) in regs {
        let Some(rb) = consul_req(inner, reqwest::Method::PUT, "/v1/agent/service/register") else {
            return (ok, errors);
        };
        match rb.json(reg).send().await {
            Ok(r) if r.status().is_success() => ok.push(id.clone()),
            Ok(r) => {
                let s = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                errors.push(format!("Unexpected response code: {s} ({body})"));
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    (ok, errors)
}

/// Deregisters services from Consul (best effort, as Nomad's sync loop retries later).
pub(crate) async fn deregister(inner: &Inner, ids: &[String]) {
    for id in ids {
        let path = format!("/v1/agent/service/deregister/{id}");
        if let Some(rb) = consul_req(inner, reqwest::Method::PUT, &path) {
            let _ = rb.send().await;
        }
    }
}
