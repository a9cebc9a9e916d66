//! Pure IP address management: pools, allocation, sharing. No Kubernetes types.
