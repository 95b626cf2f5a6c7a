//! A containerd runtime class through the CRI plugin: the `vigil` runtime table of
//! `containerd-config/containerd-runtime-class.toml`, the handler named by
//! `containerd-config/kubernetes-runtimeclass.yaml`, driven by a Rust CRI v1 client.

use std::path::PathBuf;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tonic::transport::{Channel, Endpoint, Uri};
use vigil_integration::cleanup;
use vigil_integration::containerd::{CRI_NAMESPACE, Containerd, SHIM_DEFAULT_ROOT};
use vigil_integration::image::BUSYBOX_REF;
use vigil_integration::probe::{Need, ready};
use vigil_integration::snippets;

const NEEDS: &[Need] = &[
    Need::Root,
    Need::Binary("containerd"),
    Need::Binary("ctr"),
    Need::Binary("containerd-shim-runc-v2"),
    Need::Cgroup("pids"),
];

async fn connect(socket: PathBuf) -> Channel {
    Endpoint::try_from("http://[::]:50051")
        .expect("static endpoint")
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let socket = socket.clone();
            async move {
                Ok::<_, std::io::Error>(TokioIo::new(
                    tokio::net::UnixStream::connect(socket).await?,
                ))
            }
        }))
        .await
        .expect("connect to containerd's CRI socket")
}

#[test]
fn cri_runtime_class_runs_a_pod_and_a_container() {
    if !ready("cri_runtime_class_runs_a_pod_and_a_container", NEEDS) {
        return;
    }
    let handler = snippets::kubernetes_handler().expect("RuntimeClass snippet");
    assert_eq!(
        handler,
        snippets::containerd_runtime_name().expect("containerd snippet"),
        "the RuntimeClass handler must name the containerd runtime table"
    );
    let c = Containerd::start().expect("containerd starts");
    c.import_images(CRI_NAMESPACE, true)
        .expect("import busybox and pause");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let ids = rt.block_on(scenario(&c, &handler));
    eprintln!("CRI's runtime calls: {:#?}", c.wrapper().calls());

    for id in [&ids.0, &ids.1] {
        let creates = c.wrapper().calls_with("create");
        assert!(
            creates.iter().any(|a| a.iter().any(|x| x == id)),
            "CRI did not run {id} through the runtime class binary; calls: {creates:?}"
        );
        let state = PathBuf::from(SHIM_DEFAULT_ROOT)
            .join(CRI_NAMESPACE)
            .join(id);
        assert!(!state.exists(), "runtime state {state:?} left behind");
        let cg = cleanup::cgroup_dirs_named(id);
        assert!(cg.is_empty(), "cgroups left behind: {cg:?}");
    }
    let m: Vec<_> = cleanup::mounts_under(c.tmp())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(&ids.0))
        .collect();
    assert!(m.is_empty(), "mounts of the sandbox left behind: {m:?}");
}

/// Runs the pod and container; returns (sandbox id, container id).
async fn scenario(c: &Containerd, handler: &str) -> (String, String) {
    let mut rs = RuntimeServiceClient::new(connect(c.address().to_path_buf()).await);
    let mut tries = 0;
    let v = loop {
        match rs
            .version(cri::VersionRequest {
                version: "v1".into(),
            })
            .await
        {
            Ok(v) => break v.into_inner(),
            Err(e) if tries < 100 && e.code() == tonic::Code::Unimplemented => {
                // The CRI plugin registers its service once it has initialised.
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("CRI Version: {e}\ncontainerd log:\n{}", c.log()),
        }
    };
    assert_eq!(v.runtime_api_version, "v1", "containerd's CRI v1 API");

    let logs = c.tmp().join("pod-logs");
    std::fs::create_dir_all(&logs).expect("pod log dir");
    let sandbox_config = cri::PodSandboxConfig {
        metadata: Some(cri::PodSandboxMetadata {
            name: "vigil-pod".into(),
            uid: vigil_integration::unique_id("uid"),
            namespace: "default".into(),
            attempt: 0,
        }),
        log_directory: logs.display().to_string(),
        linux: Some(cri::LinuxPodSandboxConfig {
            cgroup_parent: c.cgroup_parent.clone(),
            security_context: Some(cri::LinuxSandboxSecurityContext {
                namespace_options: Some(cri::NamespaceOption {
                    network: cri::NamespaceMode::Node as i32,
                    pid: cri::NamespaceMode::Pod as i32,
                    ipc: cri::NamespaceMode::Pod as i32,
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pod = rs
        .run_pod_sandbox(cri::RunPodSandboxRequest {
            config: Some(sandbox_config.clone()),
            runtime_handler: handler.into(),
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "RunPodSandbox with handler {handler}: {e}\ncontainerd log:\n{}",
                c.log()
            )
        })
        .into_inner()
        .pod_sandbox_id;

    let container_config = cri::ContainerConfig {
        metadata: Some(cri::ContainerMetadata {
            name: "busybox".into(),
            attempt: 0,
        }),
        image: Some(cri::ImageSpec {
            image: BUSYBOX_REF.into(),
            ..Default::default()
        }),
        command: vec![
            "sh".into(),
            "-c".into(),
            "trap 'exit 0' TERM; echo started; while true; do sleep 0.1; done".into(),
        ],
        log_path: "busybox.log".into(),
        ..Default::default()
    };
    let ctr = rs
        .create_container(cri::CreateContainerRequest {
            pod_sandbox_id: pod.clone(),
            config: Some(container_config),
            sandbox_config: Some(sandbox_config),
        })
        .await
        .unwrap_or_else(|e| panic!("CreateContainer: {e}\ncontainerd log:\n{}", c.log()))
        .into_inner()
        .container_id;
    rs.start_container(cri::StartContainerRequest {
        container_id: ctr.clone(),
    })
    .await
    .unwrap_or_else(|e| panic!("StartContainer: {e}\ncontainerd log:\n{}", c.log()));

    let st = rs
        .container_status(cri::ContainerStatusRequest {
            container_id: ctr.clone(),
            verbose: false,
        })
        .await
        .expect("ContainerStatus")
        .into_inner();
    assert_eq!(
        st.status.map(|s| s.state),
        Some(cri::ContainerState::ContainerRunning as i32)
    );

    let ex = rs
        .exec_sync(cri::ExecSyncRequest {
            container_id: ctr.clone(),
            cmd: vec![
                "sh".into(),
                "-c".into(),
                "echo exec-out; echo exec-err >&2; exit 3".into(),
            ],
            timeout: 10,
        })
        .await
        .expect("ExecSync")
        .into_inner();
    assert_eq!(String::from_utf8_lossy(&ex.stdout).trim(), "exec-out");
    assert_eq!(String::from_utf8_lossy(&ex.stderr).trim(), "exec-err");
    assert_eq!(ex.exit_code, 3);

    rs.stop_container(cri::StopContainerRequest {
        container_id: ctr.clone(),
        timeout: 10,
    })
    .await
    .expect("StopContainer");
    let st = rs
        .container_status(cri::ContainerStatusRequest {
            container_id: ctr.clone(),
            verbose: false,
        })
        .await
        .expect("ContainerStatus")
        .into_inner()
        .status
        .expect("status");
    assert_eq!(st.state, cri::ContainerState::ContainerExited as i32);
    assert_eq!(st.exit_code, 0, "the container's TERM trap exits 0");
    rs.remove_container(cri::RemoveContainerRequest {
        container_id: ctr.clone(),
    })
    .await
    .expect("RemoveContainer");
    rs.stop_pod_sandbox(cri::StopPodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    })
    .await
    .expect("StopPodSandbox");
    rs.remove_pod_sandbox(cri::RemovePodSandboxRequest {
        pod_sandbox_id: pod.clone(),
    })
    .await
    .expect("RemovePodSandbox");
    tokio::time::sleep(Duration::from_millis(100)).await;
    (pod, ctr)
}
