//! Annotation and label keys OpenELB v0.6 reads and writes, so Services, Eips and Nodes set up
//! for OpenELB keep working under porter.

/// Service annotation that hands the Service to the load balancer; its value is
/// [`LB_VALUE_OPENELB`] (or [`LB_VALUE_PORTER`] from KubeSphere Porter days).
pub const LB: &str = "lb.kubesphere.io/v1alpha1";
/// Value of [`LB`] written by OpenELB users.
pub const LB_VALUE_OPENELB: &str = "openelb";
/// Value of [`LB`] written by KubeSphere Porter users.
pub const LB_VALUE_PORTER: &str = "porter";
/// Service annotation naming the Eip to draw from.
pub const EIP_POOL: &str = "eip.openelb.kubesphere.io/v1alpha2";
/// Service annotation naming the exact address wanted.
pub const EIP_ADDRESS: &str = "eip.openelb.kubesphere.io/v1alpha1";
/// Eip annotation, value `"true"`: Services that name no Eip draw from this one.
pub const DEFAULT_EIP: &str = "eip.openelb.kubesphere.io/is-default-eip";
/// Service annotation choosing the protocol (`bgp`, `layer2`) when the Eip does not decide.
pub const PROTOCOL: &str = "protocol.openelb.kubesphere.io/v1alpha1";
/// Service annotation OpenELB writes in layer-2 mode: the node that answers for the address.
pub const LAYER2_NODE: &str = "layer2.openelb.kubesphere.io/v1alpha1";
/// Node label naming the node's rack, the key of `BgpConf.spec.asPerRack`.
pub const RACK: &str = "openelb.kubesphere.io/rack";
/// Finalizer OpenELB puts on Services it serves; porter removes it when it takes over.
pub const OPENELB_SERVICE_FINALIZER: &str = "finalizer.lb.kubesphere.io/v1alpha1";
/// Finalizer OpenELB's IPAM puts on Eips.
pub const OPENELB_IPAM_FINALIZER: &str = "finalizer.ipam.kubesphere.io/v1alpha1";
