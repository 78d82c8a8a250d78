//! The crate layers of ARCHITECTURE.md ("Layers"), checked from
//! `cargo metadata`: arrows point down only, and a domain never depends on
//! another domain. A new workspace crate must be placed in a layer here.

use std::collections::BTreeMap;
use std::process::Command;

/// Layers, top to bottom. A crate may depend on crates of lower layers
/// only; within a layer, only the leaves may depend on each other.
const LAYERS: &[(&str, &[&str])] = &[
    ("binary", &["sealpost"]),
    ("root", &["sealpost-server"]),
    ("edges", &["sealpost-api", "sealpost-smtpd", "sealpost-web"]),
    ("domains", &["sealpost-archive", "sealpost-deliver", "sealpost-identity", "sealpost-portal", "sealpost-webhooks"]),
    ("core", &["sealpost-core"]),
    (
        "leaves",
        &[
            "sealpost-model",
            "sealpost-crypto",
            "sealpost-smtp",
            "sealpost-audit",
            "sealpost-store",
            "sealpost-classify",
            "sealpost-dkim",
            "sealpost-openpgp",
            "sealpost-smime",
            "sealpost-outbound",
            "sealpost-mailbox",
            "sealpost-view",
            "sealpost-search",
            "sealpost-retention",
            "sealpost-sms",
        ],
    ),
    ("test support", &["sealpost-testkit"]),
];

/// Normal (not dev) dependencies on workspace crates, per workspace crate.
fn workspace_dependencies() -> BTreeMap<String, Vec<String>> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let mut deps = BTreeMap::new();
    for package in meta["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("name").to_owned();
        let on: Vec<String> = package["dependencies"]
            .as_array()
            .expect("dependencies")
            .iter()
            .filter(|d| d["kind"].is_null() && d["path"].is_string())
            .map(|d| d["name"].as_str().expect("dependency name").to_owned())
            .collect();
        deps.insert(name, on);
    }
    deps
}

fn layer_of(name: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, crates)| crates.contains(&name))
}

/// Every violation of the layering in `deps`.
fn violations(deps: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let leaves = layer_of("sealpost-model").expect("leaves layer");
    let mut found = Vec::new();
    for (krate, on) in deps {
        let Some(from) = layer_of(krate) else {
            found.push(format!("{krate} is in no layer (add it to LAYERS and ARCHITECTURE.md)"));
            continue;
        };
        for dep in on {
            let Some(to) = layer_of(dep) else { continue };
            let sideways_ok = from == leaves && to == leaves;
            if to < from || (to == from && !sideways_ok) {
                found.push(format!(
                    "{krate} ({}) depends on {dep} ({}): arrows point down only",
                    LAYERS[from].0, LAYERS[to].0
                ));
            }
        }
    }
    found
}

#[test]
fn crates_depend_only_on_lower_layers() {
    let deps = workspace_dependencies();
    assert!(deps.contains_key("sealpost-core") && deps.contains_key("sealpost-archive"), "{deps:?}");
    let found = violations(&deps);
    assert!(found.is_empty(), "layering violated:\n{}", found.join("\n"));
}

#[test]
fn the_check_catches_a_domain_calling_sideways_or_up() {
    let mut deps = workspace_dependencies();
    deps.get_mut("sealpost-deliver").expect("deliver").push("sealpost-webhooks".into());
    deps.get_mut("sealpost-core").expect("core").push("sealpost-archive".into());
    let found = violations(&deps);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("sealpost-core (core) depends on sealpost-archive (domains)"), "{found:?}");
    assert!(found[1].contains("sealpost-deliver (domains) depends on sealpost-webhooks (domains)"), "{found:?}");
}
