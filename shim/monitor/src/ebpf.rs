//! placeholder
#[derive(Debug, thiserror::Error)]
pub enum EbpfError {
    #[error("x")]
    X,
}
pub struct EbpfMonitor;
