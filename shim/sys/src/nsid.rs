//! nsid: identity of a container's processes.
