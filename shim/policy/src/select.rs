//! Which policy a container gets: annotation, then image, then namespace, then the default.

use crate::config::HostConfig;
use serde::Serialize;
use std::collections::HashMap;

/// The annotation a tenant uses to ask for a policy.
pub const POLICY_ANNOTATION: &str = "vigil.dev/policy";

/// Annotations in which engines put the image reference, in the order they are read.
pub const IMAGE_ANNOTATIONS: &[&str] = &[
    "io.kubernetes.cri.image-name",       // containerd CRI
    "io.kubernetes.cri-o.ImageName",      // CRI-O
    "io.kubernetes.cri-o.Image",          // CRI-O (resolved)
    "org.opencontainers.image.base.name", // OCI image spec (set by podman and buildkit)
    "io.containerd.image.name",           // containerd/nerdctl label copies
    "org.opencontainers.image.ref.name",  // OCI image layout ref (often just a tag)
];

/// Annotations that carry the Kubernetes namespace.
pub const NAMESPACE_ANNOTATIONS: &[&str] = &[
    "io.kubernetes.cri.sandbox-namespace",
    "io.kubernetes.pod.namespace",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "camelCase")]
pub enum SelectedBy {
    Annotation,
    Image { pattern: String, image: String },
    Namespace { namespace: String },
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selected {
    pub name: String,
    pub by: SelectedBy,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    #[error(
        "annotation {POLICY_ANNOTATION}={name:?} asks for a policy that is not selectable on this host (selectable: {selectable:?}); ask the host administrator to add it to `selectable` in {config}"
    )]
    NotSelectable {
        name: String,
        selectable: Vec<String>,
        config: String,
    },
    #[error("annotation {POLICY_ANNOTATION} is empty")]
    Empty,
}

/// Choose the policy name for a container. `image` overrides the image annotations.
pub fn select(
    config: &HostConfig,
    annotations: &HashMap<String, String>,
    image: Option<&str>,
) -> Result<Selected, SelectError> {
    if let Some(name) = annotations.get(POLICY_ANNOTATION) {
        let name = name.trim();
        if name.is_empty() {
            return Err(SelectError::Empty);
        }
        if !config.selectable.iter().any(|s| s == name) {
            let config_path = config.source.as_ref().map_or_else(
                || crate::config::DEFAULT_CONFIG_PATH.to_string(),
                |p| p.display().to_string(),
            );
            return Err(SelectError::NotSelectable {
                name: name.to_string(),
                selectable: config.selectable.clone(),
                config: config_path,
            });
        }
        return Ok(Selected {
            name: name.to_string(),
            by: SelectedBy::Annotation,
        });
    }
    let image = image.map(str::to_string).or_else(|| {
        IMAGE_ANNOTATIONS
            .iter()
            .find_map(|k| annotations.get(*k))
            .cloned()
    });
    if let Some(image) = image.filter(|i| !i.is_empty()) {
        let full = normalize_image(&image);
        for (pattern, name) in &config.images {
            if let Ok(p) = glob::Pattern::new(pattern)
                && (p.matches(&image) || p.matches(&full))
            {
                return Ok(Selected {
                    name: name.clone(),
                    by: SelectedBy::Image {
                        pattern: pattern.clone(),
                        image,
                    },
                });
            }
        }
    }
    if let Some(ns) = NAMESPACE_ANNOTATIONS
        .iter()
        .find_map(|k| annotations.get(*k))
    {
        for (pattern, name) in &config.namespaces {
            if glob::Pattern::new(pattern).is_ok_and(|p| p.matches(ns)) {
                return Ok(Selected {
                    name: name.clone(),
                    by: SelectedBy::Namespace {
                        namespace: ns.clone(),
                    },
                });
            }
        }
    }
    Ok(Selected {
        name: config.default_policy.clone(),
        by: SelectedBy::Default,
    })
}

/// `nginx` -> `docker.io/library/nginx:latest`, `me/app:1` -> `docker.io/me/app:1`.
pub fn normalize_image(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let first = name.split('/').next().unwrap_or("");
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    let last = full.rsplit('/').next().unwrap_or("");
    if !last.contains(':') && digest.is_none() {
        full.push_str(":latest");
    }
    if let Some(d) = digest {
        full.push('@');
        full.push_str(d);
    }
    full
}
