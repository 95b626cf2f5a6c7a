//! The ring buffer thread: decodes events and reports them with their container's id.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use aya::maps::{MapData, RingBuf};

use super::{Registry, abi};
use crate::{DecisionEvent, Layer, Sink};

pub(super) fn spawn_reader(
    mut ring: RingBuf<MapData>,
    registry: Registry,
    sink: Arc<dyn Sink>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<()>> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    std::thread::Builder::new()
        .name("ebpf-events".into())
        .stack_size(256 * 1024)
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                let mut fds = [PollFd::new(ring.as_fd(), PollFlags::POLLIN)];
                let _ = poll(&mut fds, PollTimeout::from(100u16));
                while let Some(item) = ring.next() {
                    let Some(ev) = abi::decode_event(&item) else {
                        continue;
                    };
                    let registry = registry.lock().unwrap_or_else(|p| p.into_inner());
                    let Some(reg) = registry.get(&ev.cgroup_id) else {
                        continue;
                    };
                    sink.report(DecisionEvent {
                        container: reg.id.clone(),
                        pid: ev.pid,
                        exe: Some(ev.comm.clone()),
                        rule: abi::rule_text(&reg.rules, ev.rule),
                        access: ev.access,
                        verdict: ev.verdict,
                        layer: Layer::Ebpf,
                    });
                }
            }
        })
}
