"""A real Kubernetes control plane for the cluster-facing tests (`python -m tests.controlplane`).

etcd, kube-apiserver and kube-controller-manager v1.37.2, built from the Go module proxy
(build.py), with gitplane installed from manifests/ by `kubectl apply -k` and its two
Deployments run as local processes (pods.py). See environment.py.
"""
