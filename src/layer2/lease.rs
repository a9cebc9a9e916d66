//! The Kubernetes Lease adapter for [`super::election`] — NOT WRITTEN YET.
//!
//! Why it is missing: the `porter` package does not depend on kube / k8s-openapi yet (they
//! are only declared in `[workspace.dependencies]`), and pulling the client in belongs with
//! the controller work that sets up the API client, RBAC and the Kubernetes-mode runtime.
//!
//! What it must do: implement [`super::ownership::LeaseStore`] (get / create / replace
//! with `resourceVersion`) over `Api<Lease>`; [`super::ownership::Election`] already runs
//! the loop below and every decision is in [`super::Elector`]. For reference, the loop:
//! - One `coordination.k8s.io/v1` Lease per layer-2 IP, named by
//!   [`super::ownership::lease_name`], in porter's namespace. Per IP rather than per Eip
//!   because ETP Local makes eligibility a property of the Service, hence of the IP: two
//!   IPs of one Eip can have different eligible nodes, and spreading the IPs of one Eip
//!   across nodes spreads the load.
//! - Each `poll_timeout`: GET the Lease → `observe(now, record)` (404 → `None`), keeping
//!   its `resourceVersion`; then `poll_write(now, SystemTime::now())`: `Create` → POST,
//!   other kinds → PUT with the read `resourceVersion`; 409 → `write_failed(Conflict)`,
//!   other errors or a timeout shorter than the safety margin → `write_failed(Other)`,
//!   success → `write_succeeded(now)`.
//! - After every step publish `is_owner(now)` into the responder's owned set (a
//!   `watch::Sender<BTreeSet<IpAddr>>` per interface), and `observed_holder()` into
//!   `Metrics::set_layer2_owner` for the status writer. Wake at least at `owner_deadline()`
//!   so the owned set shrinks on time even if the API call hangs.
//! - `set_eligible` from the Service's EndpointSlices (ETP Local: this node has a ready
//!   endpoint; ETP Cluster: always).
//! - RBAC: get, create, update on `leases` in porter's namespace.
//!
//! Field mapping: `holderIdentity` ↔ `holder`, `acquireTime`/`renewTime` (MicroTime) ↔
//! `SystemTime`, `leaseDurationSeconds` ↔ `lease_duration_seconds`, `leaseTransitions` ↔
//! `lease_transitions`.
