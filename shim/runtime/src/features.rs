//! `features`: the OCI runtime features document, as `runc features` prints it.

use libcontainer::oci_spec::runtime::{
    ApparmorBuilder, CgroupBuilder, Features, FeaturesBuilder, IDMapBuilder, IntelRdtBuilder,
    LinuxFeatureBuilder, LinuxNamespaceType, MountExtensionsBuilder, SelinuxBuilder, VERSION,
};
use libcontainer::syscall::linux::MountOption;

use crate::RuntimeError;

const HOOKS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// What this build of vigil supports.
pub fn features() -> Result<Features, RuntimeError> {
    let bad =
        |e: libcontainer::oci_spec::OciSpecError| RuntimeError::InvalidArgument(e.to_string());
    let namespaces = vec![
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::User,
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::Time,
    ];
    let capabilities = caps::all()
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>();
    let linux = LinuxFeatureBuilder::default()
        .namespaces(namespaces)
        .capabilities(capabilities)
        .cgroup(
            CgroupBuilder::default()
                .v1(true)
                .v2(true)
                .systemd(true)
                .systemd_user(false)
                .rdma(false)
                .build()
                .map_err(bad)?,
        )
        .apparmor(
            ApparmorBuilder::default()
                .enabled(true)
                .build()
                .map_err(bad)?,
        )
        .selinux(
            SelinuxBuilder::default()
                .enabled(false)
                .build()
                .map_err(bad)?,
        )
        .intel_rdt(
            IntelRdtBuilder::default()
                .enabled(true)
                .build()
                .map_err(bad)?,
        )
        .mount_extensions(
            MountExtensionsBuilder::default()
                .idmap(
                    IDMapBuilder::default()
                        .enabled(false)
                        .build()
                        .map_err(bad)?,
                )
                .build()
                .map_err(bad)?,
        )
        .build()
        .map_err(bad)?;
    FeaturesBuilder::default()
        .oci_version_min("1.0.0".to_owned())
        .oci_version_max(VERSION)
        .hooks(HOOKS.iter().map(|h| h.to_string()).collect::<Vec<_>>())
        .mount_options(MountOption::known_options())
        .linux(linux)
        .build()
        .map_err(bad)
}
