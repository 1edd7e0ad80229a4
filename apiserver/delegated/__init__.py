"""Cluster mode: kube-apiserver authenticates and authorizes for us, as for any aggregated server.

- `authentication_config`: the ConfigMap kube-system/extension-apiserver-authentication,
  read and watched, as one immutable value.
- `authenticate`: front-proxy headers (only from a verified proxy certificate), client
  certificates, bearer tokens (TokenReview).
- `authorize`: request attributes as kube-apiserver derives them, SubjectAccessReview, caches.
- `namespace_teardown`: what the namespace controller sees, so Git keeps desired state.
- `middleware`: authorization and the teardown rule, after authentication.
"""
