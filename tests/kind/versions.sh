# shellcheck shell=bash
# What the kind node image is made of, read by build-node-image and cluster. The Kubernetes
# version is the one tests/kind/kubernetes/go.mod requires (keep its staging pins in step).
KIND_VERSION=v0.33.0
KUBERNETES_VERSION=$(sed -n 's/^\s*k8s.io\/kubernetes \(v[0-9.]*\).*/\1/p' "$(dirname "${BASH_SOURCE[0]}")/kubernetes/go.mod")
IFS=. read -r KUBERNETES_MAJOR KUBERNETES_MINOR _ <<<"${KUBERNETES_VERSION#v}"
CONTAINERD_VERSION=v2.3.7
CRICTL_VERSION=v1.34.0
# The module proxy here serves etcd 3.6.15+ and CoreDNS 1.14+, not the 3.6.5 and 1.12.1 that
# kubeadm 1.34 names: tests/kind/cluster.yaml points kubeadm at these tags.
ETCD_VERSION=v3.6.16
COREDNS_VERSION=v1.14.7
KUBE_NETWORK_POLICIES_VERSION=v0.8.0
LOCAL_PATH_PROVISIONER_VERSION=v0.0.30
KIND_CACHE=${EMPORIUM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/emporium}/kind
KIND=$KIND_CACHE/bin/kind-$KIND_VERSION/kind
