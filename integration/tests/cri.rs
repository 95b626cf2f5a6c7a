use k8s_cri::v1::runtime_service_client::RuntimeServiceClient as _C;
#[test]
fn placeholder() {}
