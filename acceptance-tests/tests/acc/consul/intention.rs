//! `stack_consul_intention`: many resources (and modules) share one destination's
//! `service-intentions` entry without losing each other's sources.

use serde_json::{json, Value};
use stack_acceptance_tests::{random_name, Acl, Bao, Consul, PlanOutcome, TfWorkdir};

use crate::common::{workdir, PROVIDER};

fn sources(consul: &Consul, dest: &str) -> Option<Vec<Value>> {
    let r = consul.request(
        "GET",
        &format!("/v1/config/service-intentions/{dest}"),
        consul.token.as_deref(),
        None,
    );
    if r.status == 404 {
        return None;
    }
    assert_eq!(r.status, 200, "{}", r.body);
    Some(
        r.json().expect("json")["Sources"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    )
}

fn action_of(sources: &[Value], name: &str) -> Option<String> {
    sources
        .iter()
        .find(|s| s["Name"] == json!(name))
        .and_then(|s| s["Action"].as_str().map(str::to_string))
}

fn tf(bao: &Bao, consul: &Consul) -> TfWorkdir {
    workdir(bao).envs(consul.env())
}

#[test]
fn consul_intentions_share_a_destination() {
    let bao = Bao::shared();
    let consul = Consul::start(Acl::Bootstrapped);
    let dest = random_name("api");
    // Someone else's source, written out of band, must survive everything below.
    let r = consul.request(
        "PUT",
        "/v1/config",
        consul.token.as_deref(),
        Some(&json!({"Kind": "service-intentions", "Name": dest, "Sources": [{"Name": "legacy", "Action": "deny"}]})),
    );
    assert_eq!(r.status, 200, "{}", r.body);

    // Module A: 20 sources applied in parallel into one entry.
    let a = tf(bao, &consul);
    a.write_config(&format!(
        "{PROVIDER}\nresource \"stack_consul_intention\" \"e\" {{\n  count       = 20\n  source      = \"svc-${{count.index}}\"\n  destination = \"{dest}\"\n  action      = \"allow\"\n  description = \"edge ${{count.index}}\"\n}}\n"
    ));
    a.init();
    let out = a.apply_with(&["-parallelism=20"]);
    assert!(out.success(), "{}", out.combined());
    // Module B: another source on the same destination.
    let b = tf(bao, &consul);
    b.write_config(&format!(
        "{PROVIDER}\nresource \"stack_consul_intention\" \"web\" {{\n  source      = \"web\"\n  destination = \"{dest}\"\n  action      = \"allow\"\n}}\n"
    ));
    b.init();
    assert!(b.apply().success());

    let s = sources(&consul, &dest).expect("entry exists");
    assert_eq!(s.len(), 22, "{s:#?}");
    for i in 0..20 {
        assert_eq!(action_of(&s, &format!("svc-{i}")).as_deref(), Some("allow"));
    }
    assert_eq!(action_of(&s, "web").as_deref(), Some("allow"));
    assert_eq!(action_of(&s, "legacy").as_deref(), Some("deny"));
    a.assert_plan_empty();
    b.assert_plan_empty();

    // Consul enforces the merged entry.
    let chk = consul.request(
        "GET",
        &format!("/v1/connect/intentions/check?source=web&destination={dest}"),
        consul.token.as_deref(),
        None,
    );
    assert_eq!(
        chk.json().expect("json")["Allowed"],
        json!(true),
        "{}",
        chk.body
    );
    let chk = consul.request(
        "GET",
        &format!("/v1/connect/intentions/check?source=legacy&destination={dest}"),
        consul.token.as_deref(),
        None,
    );
    assert_eq!(
        chk.json().expect("json")["Allowed"],
        json!(false),
        "{}",
        chk.body
    );

    // Drift: web flipped to deny out of band is put back by B.
    let r = consul.request(
        "PUT",
        &format!("/v1/connect/intentions/exact?source=web&destination={dest}"),
        consul.token.as_deref(),
        Some(&json!({"SourceType": "consul", "Action": "deny"})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    match b.plan_detailed() {
        PlanOutcome::Changes(out) => assert!(out.contains("1 to change"), "{out}"),
        PlanOutcome::NoChanges => panic!("a flipped action must be drift"),
    }
    assert!(b.apply().success());
    assert_eq!(
        action_of(&sources(&consul, &dest).expect("entry"), "web").as_deref(),
        Some("allow")
    );

    // Import by `source>destination`.
    let c = tf(bao, &consul);
    c.write_config(&format!(
        "{PROVIDER}\nresource \"stack_consul_intention\" \"legacy\" {{\n  source      = \"legacy\"\n  destination = \"{dest}\"\n  action      = \"deny\"\n}}\n"
    ));
    c.init();
    assert!(c
        .import("stack_consul_intention.legacy", &format!("legacy>{dest}"))
        .success());
    c.assert_plan_empty();

    // Destroying A removes only A's sources.
    assert!(a.destroy().success());
    let s = sources(&consul, &dest).expect("entry still there");
    assert_eq!(s.len(), 2, "{s:#?}");
    // The last sources going away removes the entry.
    assert!(b.destroy().success());
    assert!(c.destroy().success());
    assert!(sources(&consul, &dest).is_none(), "empty entry deleted");
}

#[test]
fn consul_intention_bad_input_changes_nothing() {
    let bao = Bao::shared();
    let consul = Consul::start(Acl::Off);
    let t = tf(bao, &consul);
    t.write_config(&format!(
        "{PROVIDER}\nresource \"stack_consul_intention\" \"x\" {{\n  source      = \"a/b\"\n  destination = \"db\"\n  action      = \"permit\"\n}}\n"
    ));
    t.init();
    let err = t.plan_expect_error();
    assert!(
        err.contains("Invalid service name") && err.contains("source"),
        "{err}"
    );
    assert!(err.contains("permit"), "{err}");
    assert!(sources(&consul, "db").is_none());
}
