"""A repository the way people write them: comments, several documents a file, Lists,
kustomize files, JSON, a Namespace beside its objects, and one broken document."""

SHOP_APP = """\
# The shop's web tier. Owned by team-storefront.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app: web        # matched by the Service below
spec:
  replicas: 3       # HPA is not used here
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: "registry.example.com/shop/web:1.4.2"   # pinned by release
          ports:
            - containerPort: 8080
          env:
            - name: MODE
              value: 'production'
---
# Service in front of the pods
apiVersion: v1
kind: Service
metadata:
  name: web
spec:   # namespace comes from the directory
  selector:
    app: web
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: web-config
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: "a,b,c"
  startedAt: 2024-01-01
"""

SHOP_NAMESPACE = """\
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  annotations:
    gitplane.io/mode: enforce
"""

SHOP_KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - app.yaml
  - namespace.yaml
"""

SHOP_LIST = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ServiceAccount
    metadata:
      name: web
  - apiVersion: v1
    kind: ServiceAccount
    metadata:
      name: worker
"""

BILLING_JSON = """{
  "apiVersion": "v1",
  "kind": "ConfigMap",
  "metadata": {"name": "rates", "namespace": "billing"},
  "data": {"vat": "0.2"}
}
"""

BILLING_BROKEN = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: good-one
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: [unclosed
"""

CLUSTER_ROLE = """\
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: "system:shop-reader"
rules: []
"""

README = "# desired state\nNot YAML.\n"

FILES = {
    "shop/app.yaml": SHOP_APP,
    "shop/namespace.yaml": SHOP_NAMESPACE,
    "shop/kustomization.yaml": SHOP_KUSTOMIZATION,
    "shop/accounts.yaml": SHOP_LIST,
    "billing/rates.json": BILLING_JSON,
    "billing/broken.yaml": BILLING_BROKEN,
    "_cluster/roles.yaml": CLUSTER_ROLE,
    "README.md": README,
}
