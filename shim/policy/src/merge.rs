//! Inheritance: a child policy (`extends: parent`) merged onto its resolved parent.
//!
//! The rule per key is documented in docs/policy.md; in short a child may tighten anything and
//! may only loosen `mode` (so a policy can be promoted learn -> audit -> enforce) and the
//! write/exec/network allow-lists within what the parent already allowed.

use crate::diag::Diagnostic;
use crate::model::*;
use crate::reader::is_under;

/// Merge `child` onto its resolved `parent`. Loosening where that is not allowed is an error
/// located in the child; a looser limit that is ignored is a warning.
pub fn merge(parent: &Policy, child: &Policy) -> (Policy, Vec<Diagnostic>) {
    let mut d = Vec::new();
    let (p, c) = (&parent.spec, &child.spec);
    let pname = &parent.name;
    let mut out = child.clone();
    out.parents = std::iter::once(parent.name.clone())
        .chain(parent.parents.iter().cloned())
        .collect();
    let s = &mut out.spec;

    s.mode = c.mode.or(p.mode);
    s.extends = None;
    s.require = p.require.clone();
    for r in &c.require {
        if !s.require.iter().any(|x| x.value == r.value) {
            s.require.push(r.clone());
        }
    }

    // syscalls: deny = union; allow-lists intersect; a child may not allow what the parent denies.
    s.syscalls.mode = c.syscalls.mode.or(p.syscalls.mode);
    s.syscalls.default_errno = c.syscalls.default_errno.or(p.syscalls.default_errno);
    s.syscalls.deny = p.syscalls.deny.clone();
    s.syscalls.deny.extend(c.syscalls.deny.iter().cloned());
    s.syscalls.allow = match (&p.syscalls.allow, &c.syscalls.allow) {
        (None, a) => a.clone(),
        (Some(pa), None) => Some(pa.clone()),
        (Some(pa), Some(ca)) => {
            let mut kept = Vec::new();
            for rule in ca {
                let mut r = rule.clone();
                r.names.retain(|n| {
                    let ok = pa.iter().any(|pr| pr.names.iter().any(|pn| pn.value == n.value));
                    if !ok {
                        d.push(Diagnostic::error(n.at.clone(), format!("syscall {:?} is not in the allow-list of parent policy {pname:?}: a child may only tighten it", n.value)));
                    }
                    ok
                });
                if !r.names.is_empty() {
                    kept.push(r);
                }
            }
            Some(kept)
        }
    };
    if let Some(allow) = &c.syscalls.allow {
        for n in allow
            .iter()
            .filter(|r| r.args.is_empty())
            .flat_map(|r| &r.names)
        {
            if p.syscalls
                .deny
                .iter()
                .any(|r| r.args.is_empty() && r.names.iter().any(|x| x.value == n.value))
            {
                d.push(Diagnostic::error(n.at.clone(), format!("syscall {:?} is denied by parent policy {pname:?}: a child cannot allow it again", n.value)));
            }
        }
    }

    // capabilities: drop = union; add only what the parent did not drop (or added itself).
    let parent_drops = |cap: &str| {
        p.capabilities
            .drop
            .iter()
            .any(|x| x.value == cap || x.value == "ALL")
            && !p.capabilities.add.iter().any(|x| x.value == cap)
    };
    for a in &c.capabilities.add {
        if parent_drops(&a.value) {
            d.push(Diagnostic::error(a.at.clone(), format!("capability {} is dropped by parent policy {pname:?}: a child cannot add it back", a.value)));
        }
    }
    let child_drops = |cap: &str| {
        c.capabilities
            .drop
            .iter()
            .any(|x| x.value == cap || x.value == "ALL")
            && !c.capabilities.add.iter().any(|x| x.value == cap)
    };
    s.capabilities.drop = union(&p.capabilities.drop, &c.capabilities.drop);
    s.capabilities.add = p
        .capabilities
        .add
        .iter()
        .filter(|a| !child_drops(&a.value))
        .cloned()
        .collect();
    for a in c
        .capabilities
        .add
        .iter()
        .filter(|a| !parent_drops(&a.value))
    {
        if !s.capabilities.add.iter().any(|x| x.value == a.value) {
            s.capabilities.add.push(a.clone());
        }
    }

    // resources and rlimits: the lower limit wins.
    s.resources.memory = min_item(
        &p.resources.memory,
        &c.resources.memory,
        "resources.memory",
        pname,
        &mut d,
    );
    s.resources.pids = min_item(
        &p.resources.pids,
        &c.resources.pids,
        "resources.pids",
        pname,
        &mut d,
    );
    s.resources.cpu_millis = min_item(
        &p.resources.cpu_millis,
        &c.resources.cpu_millis,
        "resources.cpu",
        pname,
        &mut d,
    );
    s.resources.io_weight = min_item(
        &p.resources.io_weight,
        &c.resources.io_weight,
        "resources.ioWeight",
        pname,
        &mut d,
    );
    s.rlimits = p.rlimits.clone();
    for (k, cv) in &c.rlimits {
        let merged = match p.rlimits.get(k) {
            None => cv.clone(),
            Some(pv) => {
                if cv.value.hard > pv.value.hard || cv.value.soft > pv.value.soft {
                    d.push(Diagnostic::warning(cv.at.clone(), format!("rlimits.{k} is looser than in parent policy {pname:?}; the lower limits apply")));
                }
                Item::new(
                    Rlimit {
                        soft: cv.value.soft.min(pv.value.soft),
                        hard: cv.value.hard.min(pv.value.hard),
                    },
                    cv.at.clone(),
                )
            }
        };
        s.rlimits.insert(k.clone(), merged);
    }
    s.no_new_privileges = or_true(p.no_new_privileges, c.no_new_privileges);

    // filesystem: deny, readOnly, noExec, masked, data classes accumulate.
    let (pf, cf) = (&p.filesystem, &c.filesystem);
    let f = &mut s.filesystem;
    f.mode = cf.mode.or(pf.mode);
    f.read_only_root = or_true(pf.read_only_root, cf.read_only_root);
    f.deny = union(&pf.deny, &cf.deny);
    f.read_only = union(&pf.read_only, &cf.read_only);
    f.no_exec = union(&pf.no_exec, &cf.no_exec);
    f.masked_paths = union(&pf.masked_paths, &cf.masked_paths);
    f.data_classes = pf.data_classes.clone();
    for (k, v) in &cf.data_classes {
        let e = f.data_classes.entry(k.clone()).or_default();
        *e = union(e, v);
    }
    f.read_write = narrow_paths(
        &pf.read_write,
        &cf.read_write,
        "filesystem.readWrite",
        pname,
        &mut d,
    );

    s.exec.mode = c.exec.mode.or(p.exec.mode);
    s.exec.allow = narrow_paths(&p.exec.allow, &c.exec.allow, "exec.allow", pname, &mut d);

    s.network.mode = c.network.mode.or(p.network.mode);
    s.network.connect = narrow_net(
        &p.network.connect,
        &c.network.connect,
        "network.connect",
        pname,
        &mut d,
    );
    s.network.bind = narrow_net(
        &p.network.bind,
        &c.network.bind,
        "network.bind",
        pname,
        &mut d,
    );

    s.devices.allow = match (&p.devices.allow, &c.devices.allow) {
        (None, a) => a.clone(),
        (Some(pa), None) => Some(pa.clone()),
        (Some(pa), Some(ca)) => {
            for x in ca.iter().filter(|x| !pa.iter().any(|y| y.value == x.value)) {
                d.push(Diagnostic::error(x.at.clone(), format!("device rule is not allowed by parent policy {pname:?}: a child may only remove devices")));
            }
            Some(
                ca.iter()
                    .filter(|x| pa.iter().any(|y| y.value == x.value))
                    .cloned()
                    .collect(),
            )
        }
    };
    s.scope.signals = or_true(p.scope.signals, c.scope.signals);
    s.scope.abstract_unix_sockets =
        or_true(p.scope.abstract_unix_sockets, c.scope.abstract_unix_sockets);
    s.monitor.fail_mode = match (p.monitor.fail_mode, c.monitor.fail_mode) {
        (Some(FailMode::Closed), Some(FailMode::Open)) => {
            d.push(Diagnostic::warning(
                child.name_at.clone(),
                format!("monitor.failMode open is ignored: parent policy {pname:?} says closed"),
            ));
            Some(FailMode::Closed)
        }
        (a, b) => b.or(a),
    };
    (out, d)
}

fn or_true(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (x, y) => y.or(x),
    }
}

fn union(a: &[Item<String>], b: &[Item<String>]) -> Vec<Item<String>> {
    let mut out = a.to_vec();
    for x in b {
        if !out.iter().any(|y| y.value == x.value) {
            out.push(x.clone());
        }
    }
    out
}

fn min_item<T: PartialOrd + Copy + std::fmt::Debug>(
    p: &Option<Item<T>>,
    c: &Option<Item<T>>,
    what: &str,
    pname: &str,
    d: &mut Vec<Diagnostic>,
) -> Option<Item<T>> {
    match (p, c) {
        (Some(pv), Some(cv)) if cv.value > pv.value => {
            d.push(Diagnostic::warning(
                cv.at.clone(),
                format!(
                    "{what} is looser than in parent policy {pname:?}; the parent's limit applies"
                ),
            ));
            Some(pv.clone())
        }
        (_, Some(cv)) => Some(cv.clone()),
        (pv, None) => pv.clone(),
    }
}

fn narrow_paths(
    p: &Option<Vec<Item<String>>>,
    c: &Option<Vec<Item<String>>>,
    what: &str,
    pname: &str,
    d: &mut Vec<Diagnostic>,
) -> Option<Vec<Item<String>>> {
    match (p, c) {
        (None, x) => x.clone(),
        (Some(pa), None) => Some(pa.clone()),
        (Some(pa), Some(ca)) => {
            let mut out = Vec::new();
            for x in ca {
                if pa.iter().any(|y| is_under(&x.value, &y.value)) {
                    out.push(x.clone());
                } else {
                    d.push(Diagnostic::error(x.at.clone(), format!("{:?} in {what} is outside what parent policy {pname:?} allows: a child may only narrow {what}", x.value)));
                }
            }
            Some(out)
        }
    }
}

fn narrow_net(
    p: &Option<Vec<Item<NetRule>>>,
    c: &Option<Vec<Item<NetRule>>>,
    what: &str,
    pname: &str,
    d: &mut Vec<Diagnostic>,
) -> Option<Vec<Item<NetRule>>> {
    match (p, c) {
        (None, x) => x.clone(),
        (Some(pa), None) => Some(pa.clone()),
        (Some(pa), Some(ca)) => {
            let mut out = Vec::new();
            for x in ca {
                if pa.iter().any(|y| x.value.within(&y.value)) {
                    out.push(x.clone());
                } else {
                    d.push(Diagnostic::error(x.at.clone(), format!("an entry of {what}.allow is outside what parent policy {pname:?} allows: a child may only narrow it")));
                }
            }
            Some(out)
        }
    }
}
