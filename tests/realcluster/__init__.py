"""The cluster-facing tests, on a real kube-apiserver and kube-controller-manager (tests/controlplane)."""
