"""What the reconcilers render and apply: Argo CD Applications, Flux Kustomizations and
HelmReleases found in the repository, rendered with the real kustomize and Helm."""
