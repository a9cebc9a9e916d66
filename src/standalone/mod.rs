//! Standalone mode: a YAML file instead of the Kubernetes API as the source of desired state.

pub mod load;
pub mod model;
