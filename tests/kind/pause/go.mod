// The pod sandbox's "pause" process of the kind node image (no registry serves
// registry.k8s.io/pause here).
module emporium/tests/kind/pause

go 1.24.0
