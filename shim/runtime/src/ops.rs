//! Commands on an existing container: `kill`, `pause`, `resume`, `ps`, `update`, `events`.

use libcgroups::common::{CgroupConfig, CgroupManager, ControllerOpt, create_cgroup_manager};
use libcontainer::container::{Container, ContainerStatus};
use libcontainer::oci_spec::runtime::LinuxResources;
use libcontainer::signal::Signal;
use nix::sys::signal::Signal as NixSignal;

use crate::{Runtime, RuntimeError};

impl Runtime {
    /// `runc kill [--all] ID SIGNAL`; the signal is a name (`TERM`, `SIGTERM`) or a number.
    pub fn kill(&self, id: &str, signal: &str, all: bool) -> Result<(), RuntimeError> {
        let sig = parse_signal(signal)?;
        let mut c = self.load(id)?;
        if c.status() == ContainerStatus::Stopped && !all {
            return Err(RuntimeError::NotRunning {
                action: "kill",
                id: id.to_owned(),
            });
        }
        c.kill(Signal::from(sig), all)
            .map_err(|e| RuntimeError::container("kill", id, e))
    }

    /// `runc pause`.
    pub fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        let mut c = self.running(id, "pause")?;
        c.pause()
            .map_err(|e| RuntimeError::container("pause", id, e))
    }

    /// `runc resume`.
    pub fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        let mut c = self.load(id)?;
        if c.status() != ContainerStatus::Paused {
            return Err(RuntimeError::WrongState {
                action: "resume",
                id: id.to_owned(),
                status: format!("{} (container not paused)", crate::state::status_name(&c)),
            });
        }
        c.resume()
            .map_err(|e| RuntimeError::container("resume", id, e))
    }

    /// `runc ps`: the host pids of every process in the container's cgroup.
    pub fn pids(&self, id: &str) -> Result<Vec<i32>, RuntimeError> {
        let c = self.load(id)?;
        let manager = cgroup_manager(&c, self.systemd_cgroup)?;
        let pids = manager.get_all_pids().map_err(|e| RuntimeError::Cgroup {
            id: id.to_owned(),
            message: e.to_string(),
        })?;
        Ok(pids.iter().map(|p| p.as_raw()).collect())
    }

    /// `runc update`: applies new resource limits to the container's cgroups.
    pub fn update(&self, id: &str, resources: &LinuxResources) -> Result<(), RuntimeError> {
        let c = self.load(id)?;
        if c.status() == ContainerStatus::Stopped {
            return Err(RuntimeError::NotRunning {
                action: "update",
                id: id.to_owned(),
            });
        }
        let manager = cgroup_manager(&c, self.systemd_cgroup)?;
        manager
            .apply(&ControllerOpt {
                resources,
                disable_oom_killer: false,
                oom_score_adj: None,
                freezer_state: None,
            })
            .map_err(|e| RuntimeError::Cgroup {
                id: id.to_owned(),
                message: e.to_string(),
            })
    }

    /// `runc events`: prints stats or OOM events as JSON lines until the container ends.
    pub fn events(&self, id: &str, interval: u32, stats: bool) -> Result<(), RuntimeError> {
        let mut c = self.load(id)?;
        c.events(interval, stats)
            .map_err(|e| RuntimeError::container("read events of", id, e))
    }

    fn running(&self, id: &str, action: &'static str) -> Result<Container, RuntimeError> {
        let c = self.load(id)?;
        match c.status() {
            ContainerStatus::Running => Ok(c),
            ContainerStatus::Stopped | ContainerStatus::Created | ContainerStatus::Creating => {
                Err(RuntimeError::NotRunning {
                    action,
                    id: id.to_owned(),
                })
            }
            ContainerStatus::Paused => Err(RuntimeError::WrongState {
                action,
                id: id.to_owned(),
                status: "paused".into(),
            }),
        }
    }
}

fn cgroup_manager(
    c: &Container,
    systemd: bool,
) -> Result<libcgroups::common::AnyCgroupManager, RuntimeError> {
    let cfg = c
        .spec()
        .map_err(|e| RuntimeError::container("load config of", c.id(), e))?;
    create_cgroup_manager(CgroupConfig {
        cgroup_path: cfg.cgroup_path,
        systemd_cgroup: systemd || c.systemd(),
        container_name: c.id().to_owned(),
    })
    .map_err(|e| RuntimeError::Cgroup {
        id: c.id().to_owned(),
        message: e.to_string(),
    })
}

/// Signal names with or without `SIG`, any case, or numbers, as runc accepts them.
pub(crate) fn parse_signal(s: &str) -> Result<NixSignal, RuntimeError> {
    let bad = || RuntimeError::Signal(s.to_owned());
    if let Ok(n) = s.parse::<i32>() {
        return NixSignal::try_from(n).map_err(|_| bad());
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<NixSignal>().map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        for (text, raw) in [
            ("KILL", 9),
            ("SIGTERM", 15),
            ("term", 15),
            ("9", 9),
            ("1", 1),
        ] {
            let sig = parse_signal(text).expect("valid signal");
            assert_eq!(sig as i32, raw, "{text}");
        }
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("99").is_err());
    }
}
