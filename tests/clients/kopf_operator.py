"""A kopf operator over Manifests (run by tests/clients/test_kopf.py as `kopf run`): each
handler appends one JSON line to $OPERATOR_LOG."""

import json
import os

import kopf


def _log(**fields: object) -> None:
    with open(os.environ["OPERATOR_LOG"], "a") as log:
        log.write(json.dumps(fields) + "\n")


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: object) -> None:
    settings.posting.enabled = False  # no core events to post to without a cluster
    settings.watching.server_timeout = 10


@kopf.on.create("gitplane.io", "v1alpha1", "manifests")
def created(name: str, spec: dict, **_: object) -> dict:
    _log(handler="create", name=name, data=spec["object"].get("data"))
    return {"seen": True}


@kopf.on.update("gitplane.io", "v1alpha1", "manifests")
def updated(name: str, diff: object, **_: object) -> None:
    _log(handler="update", name=name, diff=[list(map(str, d[1])) for d in diff])


@kopf.on.delete("gitplane.io", "v1alpha1", "manifests")
def deleted(name: str, **_: object) -> None:
    _log(handler="delete", name=name)
