//! Tests of host configuration and policy selection.

use crate::*;
use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

const CONFIG: &str = "policyDir: /srv/policies\njournalDir: /srv/journal\nstateDir: /run/v\ndefaultPolicy: default\nselectable: [strict, web]\nimages:\n  \"docker.io/library/nginx:*\": web\n  \"*redis*\": cache\nnamespaces:\n  \"prod-*\": strict\naudit: {enable: true}\nmonitor: {failMode: open, autoStart: false}\nallowCapabilityAdd: [NET_BIND_SERVICE]\n";

fn cfg() -> HostConfig {
    HostConfig::parse(Path::new("/etc/vigil/config.yaml"), CONFIG).unwrap()
}

fn ann(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn config_parses_every_key() {
    let c = cfg();
    assert_eq!(c.policy_dir, Path::new("/srv/policies"));
    assert_eq!(c.journal_dir, Path::new("/srv/journal"));
    assert_eq!(c.state_dir, Path::new("/run/v"));
    assert_eq!(c.selectable, ["strict", "web"]);
    assert_eq!(c.images[1], ("*redis*".to_string(), "cache".to_string()));
    assert!(c.audit.enable);
    assert_eq!(c.monitor.fail_mode, FailMode::Open);
    assert!(!c.monitor.auto_start);
    assert_eq!(c.allow_capability_add, ["CAP_NET_BIND_SERVICE"]);
}

#[test]
fn config_errors_are_all_located() {
    let e = HostConfig::parse(
        Path::new("c.yaml"),
        "policyDir: rel\nslectable: [a]\nmonitor: {failMode: shut}\n",
    )
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("c.yaml:1:12: error: path \"rel\" in policyDir must be absolute"),
        "{text}"
    );
    assert!(
        text.contains("c.yaml:2:1: error: unknown key \"slectable\"")
            && text.contains("did you mean \"selectable\""),
        "{text}"
    );
    assert!(
        text.contains("c.yaml:3:21: error: monitor.failMode"),
        "{text}"
    );
}

#[test]
fn missing_config_gives_builtin_default_and_untrusted_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("config.yaml");
    let c = HostConfig::load(&missing, Trust::ROOT).unwrap();
    assert_eq!(c.source, None);
    assert_eq!(c.default_policy, "default");
    // the built-in default policy is found although /etc/vigil/policies does not exist here
    let p = crate::load(&c, "default").unwrap();
    assert_eq!(p.name, "default");

    std::fs::write(&missing, CONFIG).unwrap();
    let uid = std::fs::metadata(&missing).unwrap().uid();
    std::fs::set_permissions(&missing, std::fs::Permissions::from_mode(0o620)).unwrap();
    let e = HostConfig::load(&missing, Trust::owner(uid)).unwrap_err();
    assert!(e.to_string().contains("writable by group or others"), "{e}");
    std::fs::set_permissions(&missing, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(HostConfig::load(&missing, Trust::owner(uid)).is_ok());
    let e = HostConfig::load(&missing, Trust::owner(uid + 1)).unwrap_err();
    assert!(e.to_string().contains("not by"), "{e}");
}

#[test]
fn annotation_wins_but_only_for_selectable_names() {
    let c = cfg();
    let s = select(
        &c,
        &ann(&[
            ("vigil.dev/policy", "strict"),
            ("io.kubernetes.cri.image-name", "nginx:1.25"),
        ]),
        None,
    )
    .unwrap();
    assert_eq!(
        s,
        Selected {
            name: "strict".into(),
            by: SelectedBy::Annotation
        }
    );
    let e = select(&c, &ann(&[("vigil.dev/policy", "privileged")]), None).unwrap_err();
    assert!(matches!(&e, SelectError::NotSelectable { name, .. } if name == "privileged"));
    assert!(e.to_string().contains("not selectable on this host"), "{e}");
    // the default itself is not selectable here either, unless listed
    assert!(select(&c, &ann(&[("vigil.dev/policy", "default")]), None).is_err());
}

#[test]
fn images_then_namespace_then_default() {
    let c = cfg();
    let s = select(
        &c,
        &ann(&[("io.kubernetes.cri.image-name", "nginx:1.25")]),
        None,
    )
    .unwrap();
    assert_eq!(s.name, "web");
    assert!(
        matches!(s.by, SelectedBy::Image { ref pattern, .. } if pattern == "docker.io/library/nginx:*")
    );
    assert_eq!(
        select(&c, &ann(&[]), Some("quay.io/x/redis:7"))
            .unwrap()
            .name,
        "cache"
    );
    assert_eq!(
        select(
            &c,
            &ann(&[("io.kubernetes.cri.sandbox-namespace", "prod-eu")]),
            Some("alpine")
        )
        .unwrap()
        .name,
        "strict"
    );
    let s = select(&c, &ann(&[]), Some("alpine")).unwrap();
    assert_eq!((s.name.as_str(), s.by), ("default", SelectedBy::Default));
}

#[test]
fn image_names_normalise() {
    assert_eq!(normalize_image("nginx"), "docker.io/library/nginx:latest");
    assert_eq!(normalize_image("me/app:1"), "docker.io/me/app:1");
    assert_eq!(
        normalize_image("localhost:5000/app"),
        "localhost:5000/app:latest"
    );
    assert_eq!(
        normalize_image("ghcr.io/a/b@sha256:ab"),
        "ghcr.io/a/b@sha256:ab"
    );
}
