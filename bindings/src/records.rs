//! The records a shell passes in: how to open the library.

/// How to open the library.
#[derive(Clone, Debug, uniffi::Record)]
pub struct Config {
    /// The app's private data directory (account records; software device keys).
    pub data_dir: String,
    /// Extra trust anchors in PEM: a deployment's private CA (the tests' dev CA).
    #[uniffi(default = None)]
    pub extra_ca_pem: Option<String>,
    /// If set, only enrolment links for these hosts are accepted (`*.example.org` allowed).
    #[uniffi(default = None)]
    pub allowed_hosts: Option<Vec<String>>,
}
