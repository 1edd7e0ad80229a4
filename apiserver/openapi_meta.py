"""The standard meta.k8s.io/v1 pieces every OpenAPI document of a Kubernetes API refers to:
ObjectMeta (and what it uses), ListMeta, Status, DeleteOptions, Patch, WatchEvent, and the
query parameters of each operation.

Names and descriptions are upstream's (k8s.io/apimachinery/pkg/apis/meta/v1), abridged; the
subset is what a client of this API can meet. `Refs` hides the one difference between OpenAPI
v2 and v3 here: where a definition lives and how a `$ref` carries a description.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

JSONObject = dict[str, Any]

META: Final = "io.k8s.apimachinery.pkg.apis.meta.v1"
OBJECT_META: Final = f"{META}.ObjectMeta"
LIST_META: Final = f"{META}.ListMeta"
TIME: Final = f"{META}.Time"
STATUS: Final = f"{META}.Status"
DELETE_OPTIONS: Final = f"{META}.DeleteOptions"
PATCH: Final = f"{META}.Patch"
WATCH_EVENT: Final = f"{META}.WatchEvent"
API_RESOURCE_LIST: Final = f"{META}.APIResourceList"
RAW_EXTENSION: Final = "io.k8s.apimachinery.pkg.runtime.RawExtension"

API_VERSION_DESCRIPTION: Final = (
    "APIVersion defines the versioned schema of this representation of an object. Servers "
    "should convert recognized schemas to the latest internal value, and may reject "
    "unrecognized values. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#resources"
)
KIND_DESCRIPTION: Final = (
    "Kind is a string value representing the REST resource this object represents. Servers "
    "may infer this from the endpoint the client submits requests to. Cannot be updated. In "
    "CamelCase. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#types-kinds"
)
OBJECT_META_DESCRIPTION: Final = (
    "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#metadata"
)
LIST_META_DESCRIPTION: Final = (
    "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/"
    "sig-architecture/api-conventions.md#types-kinds"
)


@dataclass(frozen=True)
class Refs:
    """How a document points at its shared definitions (`#/definitions/` or
    `#/components/schemas/`). v3 wraps a `$ref` that has siblings in `allOf`, as upstream
    does, because OpenAPI 3.0 ignores a `$ref`'s siblings."""

    prefix: str
    wrap: bool

    def to(self, name: str) -> JSONObject:
        return {"$ref": self.prefix + name}

    def described(self, name: str, description: str = "", **extra: Any) -> JSONObject:
        if description:
            extra = {"description": description, **extra}
        if not extra:
            return self.to(name)
        if self.wrap:
            return {"allOf": [self.to(name)], **extra}
        return {**self.to(name), **extra}


V2_REFS: Final = Refs("#/definitions/", wrap=False)
V3_REFS: Final = Refs("#/components/schemas/", wrap=True)


def _string(description: str, **extra: Any) -> JSONObject:
    return {"type": "string", "description": description, **extra}


def _integer(description: str, fmt: str = "int64") -> JSONObject:
    return {"type": "integer", "format": fmt, "description": description}


def _string_map(description: str) -> JSONObject:
    return {
        "type": "object",
        "additionalProperties": {"type": "string", "default": ""},
        "description": description,
    }


def _gvk(kind: str, group: str = "", version: str = "v1") -> JSONObject:
    return {"group": group, "kind": kind, "version": version}


def _object_meta(refs: Refs) -> JSONObject:
    return {
        "description": (
            "ObjectMeta is metadata that all persisted resources must have, which includes all "
            "objects users must create."
        ),
        "type": "object",
        "properties": {
            "annotations": _string_map(
                "Annotations is an unstructured key value map stored with a resource that may "
                "be set by external tools to store and retrieve arbitrary metadata. They are "
                "not queryable and should be preserved when modifying objects. More info: "
                "https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations"
            ),
            "creationTimestamp": refs.described(
                TIME,
                "CreationTimestamp is a timestamp representing the server time when this "
                "object was created. Clients may not set this value. It is represented in "
                "RFC3339 form and is in UTC. Populated by the system. Read-only. Null for "
                "lists.",
            ),
            "deletionGracePeriodSeconds": _integer(
                "Number of seconds allowed for this object to gracefully terminate before it "
                "will be removed from the system. Only set when deletionTimestamp is also set. "
                "May only be shortened. Read-only."
            ),
            "deletionTimestamp": refs.described(
                TIME,
                "DeletionTimestamp is RFC 3339 date and time at which this resource will be "
                "deleted. This field is set by the server when a graceful deletion is "
                "requested by the user, and is not directly settable by a client. Read-only.",
            ),
            "finalizers": {
                "type": "array",
                "items": {"type": "string", "default": ""},
                "description": (
                    "Must be empty before the object is deleted from the registry. Each entry "
                    "is an identifier for the responsible component that will remove the entry "
                    "from the list."
                ),
                "x-kubernetes-list-type": "set",
                "x-kubernetes-patch-strategy": "merge",
            },
            "generateName": _string(
                "GenerateName is an optional prefix, used by the server, to generate a unique "
                "name ONLY IF the Name field has not been provided."
            ),
            "generation": _integer(
                "A sequence number representing a specific generation of the desired state. "
                "Populated by the system. Read-only."
            ),
            "labels": _string_map(
                "Map of string keys and values that can be used to organize and categorize "
                "(scope and select) objects. May match selectors of replication controllers "
                "and services. More info: "
                "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels"
            ),
            "managedFields": {
                "type": "array",
                "items": refs.to(f"{META}.ManagedFieldsEntry"),
                "description": (
                    "ManagedFields maps workflow-id and version to the set of fields that are "
                    "managed by that workflow. This is mostly for internal housekeeping, and "
                    "users typically shouldn't need to set or understand this field."
                ),
                "x-kubernetes-list-type": "atomic",
            },
            "name": _string(
                "Name must be unique within a namespace. Is required when creating resources. "
                "Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/"
                "working-with-objects/names#names"
            ),
            "namespace": _string(
                "Namespace defines the space within which each name must be unique. An empty "
                'namespace is equivalent to the "default" namespace, but "default" is the '
                "canonical representation. Not all objects are required to be scoped to a "
                "namespace - the value of this field for those objects will be empty. Must be "
                "a DNS_LABEL. Cannot be updated. More info: https://kubernetes.io/docs/"
                "concepts/overview/working-with-objects/namespaces"
            ),
            "ownerReferences": {
                "type": "array",
                "items": refs.to(f"{META}.OwnerReference"),
                "description": (
                    "List of objects depended by this object. If ALL objects in the list have "
                    "been deleted, this object will be garbage collected."
                ),
                "x-kubernetes-list-map-keys": ["uid"],
                "x-kubernetes-list-type": "map",
                "x-kubernetes-patch-merge-key": "uid",
                "x-kubernetes-patch-strategy": "merge",
            },
            "resourceVersion": _string(
                "An opaque value that represents the internal version of this object that can "
                "be used by clients to determine when objects have changed. Populated by the "
                "system. Read-only. Value must be treated as opaque by clients."
            ),
            "selfLink": _string(
                "Deprecated: selfLink is a legacy read-only field that is no "
                "longer populated by the system."
            ),
            "uid": _string(
                "UID is the unique in time and space value for this object. Populated by the "
                "system. Read-only."
            ),
        },
    }


def _owner_reference() -> JSONObject:
    return {
        "description": (
            "OwnerReference contains enough information to let you identify an owning object."
        ),
        "type": "object",
        "required": ["apiVersion", "kind", "name", "uid"],
        "properties": {
            "apiVersion": _string("API version of the referent.", default=""),
            "blockOwnerDeletion": {
                "type": "boolean",
                "description": "If true, the owner cannot be deleted before this reference is "
                "removed.",
            },
            "controller": {
                "type": "boolean",
                "description": "If true, this reference points to the managing controller.",
            },
            "kind": _string("Kind of the referent.", default=""),
            "name": _string("Name of the referent.", default=""),
            "uid": _string("UID of the referent.", default=""),
        },
        "x-kubernetes-map-type": "atomic",
    }


def _managed_fields_entry(refs: Refs) -> JSONObject:
    return {
        "description": (
            "ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of the "
            "resource that the fieldset applies to."
        ),
        "type": "object",
        "properties": {
            "apiVersion": _string("APIVersion of the fields that this entry records."),
            "fieldsType": _string('The only valid value is "FieldsV1".'),
            "fieldsV1": refs.described(f"{META}.FieldsV1", "The fields this manager owns."),
            "manager": _string("Manager is an identifier of the workflow managing these fields."),
            "operation": _string("Apply or Update: the operation that set these fields."),
            "subresource": _string("The subresource used to update the object, if any."),
            "time": refs.described(TIME, "Timestamp of the last change to these fields."),
        },
    }


def _list_meta() -> JSONObject:
    return {
        "description": "ListMeta describes metadata that synthetic resources must have.",
        "type": "object",
        "properties": {
            "continue": _string(
                "continue may be set if the user set a limit on the number of items returned, "
                "and indicates that the server has more data available."
            ),
            "remainingItemCount": _integer(
                "The number of subsequent items in the list which are not included in this "
                "list response."
            ),
            "resourceVersion": _string(
                "String that identifies the server's internal version of this object that can "
                "be used by clients to determine when objects have changed."
            ),
            "selfLink": _string("Deprecated: no longer populated by the system."),
        },
    }


def _status(refs: Refs) -> JSONObject:
    return {
        "description": "Status is a return value for calls that don't return other objects.",
        "type": "object",
        "properties": {
            "apiVersion": _string(API_VERSION_DESCRIPTION),
            "code": _integer("Suggested HTTP return code for this status.", "int32"),
            "details": refs.described(
                f"{META}.StatusDetails", "Extended data associated with the reason."
            ),
            "kind": _string(KIND_DESCRIPTION),
            "message": _string("A human-readable description of the status of this operation."),
            "metadata": refs.described(LIST_META, LIST_META_DESCRIPTION, default={}),
            "reason": _string(
                'A machine-readable description of why this operation is in the "Failure" status.'
            ),
            "status": _string('Status of the operation. One of: "Success" or "Failure".'),
        },
        "x-kubernetes-group-version-kind": [_gvk("Status")],
    }


def _status_details(refs: Refs) -> JSONObject:
    return {
        "description": "StatusDetails is a set of additional properties that MAY be set by the "
        "server to provide additional information about a response.",
        "type": "object",
        "properties": {
            "causes": {
                "type": "array",
                "items": refs.to(f"{META}.StatusCause"),
                "description": "The Causes array includes more details associated with the "
                "StatusReason failure.",
                "x-kubernetes-list-type": "atomic",
            },
            "group": _string("The group attribute of the resource associated with the status."),
            "kind": _string("The kind attribute of the resource associated with the status."),
            "name": _string("The name attribute of the resource associated with the status."),
            "retryAfterSeconds": _integer(
                "If specified, the time in seconds before the operation should be retried.",
                "int32",
            ),
            "uid": _string("UID of the resource."),
        },
    }


def _status_cause() -> JSONObject:
    return {
        "description": "StatusCause provides more information about an api.Status failure.",
        "type": "object",
        "properties": {
            "field": _string(
                "The field of the resource that has caused this error, as named by its JSON "
                'serialization, e.g. "spec.object.spec.replicas".'
            ),
            "message": _string("A human-readable description of the cause of the error."),
            "reason": _string("A machine-readable description of the cause of the error."),
        },
    }


def _delete_options(refs: Refs, group: str, version: str) -> JSONObject:
    return {
        "description": "DeleteOptions may be provided when deleting an API object.",
        "type": "object",
        "properties": {
            "apiVersion": _string(API_VERSION_DESCRIPTION),
            "dryRun": {
                "type": "array",
                "items": {"type": "string", "default": ""},
                "description": "When present, indicates that modifications should not be "
                "persisted. Valid values: All.",
                "x-kubernetes-list-type": "atomic",
            },
            "gracePeriodSeconds": _integer("Ignored: objects in Git are deleted at once."),
            "kind": _string(KIND_DESCRIPTION),
            "orphanDependents": {
                "type": "boolean",
                "description": "Deprecated: please use the PropagationPolicy.",
            },
            "preconditions": refs.described(
                f"{META}.Preconditions",
                "Must be fulfilled before a deletion is carried out.",
            ),
            "propagationPolicy": _string(
                "Whether and how garbage collection will be performed: 'Orphan', 'Background' "
                "or 'Foreground'."
            ),
        },
        "x-kubernetes-group-version-kind": [
            _gvk("DeleteOptions"),
            _gvk("DeleteOptions", group, version),
        ],
    }


def _preconditions() -> JSONObject:
    return {
        "description": "Preconditions must be fulfilled before an operation is carried out.",
        "type": "object",
        "properties": {
            "resourceVersion": _string("Specifies the target ResourceVersion"),
            "uid": _string("Specifies the target UID."),
        },
    }


def _watch_event(refs: Refs) -> JSONObject:
    return {
        "description": "Event represents a single event to a watched resource.",
        "type": "object",
        "required": ["type", "object"],
        "properties": {
            "object": refs.described(
                RAW_EXTENSION,
                "Object is: the object of the event (ADDED, MODIFIED, DELETED), the latest "
                "resourceVersion (BOOKMARK) or a Status (ERROR).",
            ),
            "type": _string("ADDED, MODIFIED, DELETED, BOOKMARK or ERROR.", default=""),
        },
        "x-kubernetes-group-version-kind": [_gvk("WatchEvent")],
    }


def _api_resource_list() -> JSONObject:
    return {
        "description": "APIResourceList is a list of APIResource, it is used to expose the name "
        "of the resources supported in a specific group and version, and if the resource is "
        "namespaced.",
        "type": "object",
        "required": ["groupVersion", "resources"],
        "properties": {
            "apiVersion": _string(API_VERSION_DESCRIPTION),
            "groupVersion": _string(
                "groupVersion is the group and version this APIResourceList is for."
            ),
            "kind": _string(KIND_DESCRIPTION),
            "resources": {
                "type": "array",
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "description": "resources contains the name of the resources and if they are "
                "namespaced.",
                "x-kubernetes-list-type": "atomic",
            },
        },
        "x-kubernetes-group-version-kind": [_gvk("APIResourceList")],
    }


def meta_definitions(refs: Refs, group: str, version: str) -> dict[str, JSONObject]:
    """Every shared definition, by its Go-package-qualified name."""
    return {
        API_RESOURCE_LIST: _api_resource_list(),
        DELETE_OPTIONS: _delete_options(refs, group, version),
        f"{META}.FieldsV1": {
            "description": "FieldsV1 stores a set of fields in a data structure like a Trie, "
            "in JSON format.",
            "type": "object",
        },
        LIST_META: _list_meta(),
        f"{META}.ManagedFieldsEntry": _managed_fields_entry(refs),
        OBJECT_META: _object_meta(refs),
        f"{META}.OwnerReference": _owner_reference(),
        PATCH: {
            "description": "Patch is provided to give a concrete name and type to the "
            "Kubernetes PATCH request body.",
            "type": "object",
        },
        f"{META}.Preconditions": _preconditions(),
        STATUS: _status(refs),
        f"{META}.StatusCause": _status_cause(),
        f"{META}.StatusDetails": _status_details(refs),
        TIME: {
            "description": "Time is a wrapper around time.Time which supports correct "
            "marshaling to YAML and JSON. RFC 3339, in UTC.",
            "type": "string",
            "format": "date-time",
        },
        WATCH_EVENT: _watch_event(refs),
        RAW_EXTENSION: {
            "description": "RawExtension is used to hold extensions in external versions.",
            "type": "object",
        },
    }


# --- query and path parameters ----------------------------------------------------------------


@dataclass(frozen=True)
class Parameter:
    """One operation parameter; rendered per OpenAPI version (v2 inlines `type`)."""

    name: str
    description: str
    type: str = "string"
    location: str = "query"
    required: bool = False

    def v2(self) -> JSONObject:
        out: JSONObject = {
            "name": self.name,
            "in": self.location,
            "description": self.description,
            "type": self.type,
        }
        if self.required:
            out["required"] = True
        if self.location != "path":
            out["uniqueItems"] = True  # upstream marks every query parameter so
        return out

    def v3(self) -> JSONObject:
        out: JSONObject = {
            "name": self.name,
            "in": self.location,
            "description": self.description,
            "schema": {"type": self.type, "uniqueItems": True},
        }
        if self.required:
            out["required"] = True
        return out


def path_parameter(name: str, description: str) -> Parameter:
    return Parameter(name, description, location="path", required=True)


NAMESPACE_PARAMETER: Final = path_parameter(
    "namespace", "object name and auth scope, such as for teams and projects"
)
PRETTY: Final = Parameter(
    "pretty",
    "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent "
    "indicates a browser or command-line HTTP tool (curl and wget).",
)
DRY_RUN: Final = Parameter(
    "dryRun",
    "When present, indicates that modifications should not be persisted (no commit is made). "
    "An invalid or unrecognized dryRun directive will result in an error response and no "
    "further processing of the request. Valid values are: - All: all dry run stages will be "
    "processed",
)
FIELD_MANAGER: Final = Parameter(
    "fieldManager",
    "fieldManager is a name associated with the actor or entity that is making these changes. "
    "The value must be less than or 128 characters long, and only contain printable "
    "characters, as defined by https://golang.org/pkg/unicode/#IsPrint.",
)
FIELD_VALIDATION: Final = Parameter(
    "fieldValidation",
    "fieldValidation instructs the server on how to handle objects in the request "
    "(POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: "
    "silently drops unknown fields. - Warn: sends a warning via the standard warning response "
    "header for each unknown field. - Strict: fails the request with a BadRequest error if "
    "any unknown fields would be dropped. Defaults to Warn for kubectl --validate=true.",
)
FORCE: Final = Parameter(
    "force",
    'Force is going to "force" Apply requests. It means user will re-acquire conflicting '
    "fields owned by other people. Force flag must be unset for non-apply patch requests.",
    type="boolean",
)
WRITE_PARAMETERS: Final = (DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION)
PATCH_PARAMETERS: Final = (*WRITE_PARAMETERS, FORCE)

DELETE_PARAMETERS: Final = (
    DRY_RUN,
    Parameter("gracePeriodSeconds", "Ignored: objects in Git are deleted at once.", "integer"),
    Parameter(
        "orphanDependents",
        "Deprecated: please use the PropagationPolicy.",
        "boolean",
    ),
    Parameter(
        "propagationPolicy",
        "Whether and how garbage collection will be performed: 'Orphan', 'Background' or "
        "'Foreground'.",
    ),
)

LIST_PARAMETERS: Final = (
    Parameter(
        "allowWatchBookmarks",
        'allowWatchBookmarks requests watch events with type "BOOKMARK".',
        "boolean",
    ),
    Parameter(
        "continue",
        "The continue option should be set when retrieving more results from the server.",
    ),
    Parameter(
        "fieldSelector",
        "A selector to restrict the list of returned objects by their fields "
        "(metadata.name, metadata.namespace). Defaults to everything.",
    ),
    Parameter(
        "labelSelector",
        "A selector to restrict the list of returned objects by their labels. Defaults to "
        "everything.",
    ),
    Parameter(
        "limit",
        "limit is a maximum number of responses to return for a list call. If more items "
        "exist, the server will set the `continue` field on the list metadata.",
        "integer",
    ),
    Parameter(
        "resourceVersion",
        "resourceVersion sets a constraint on what resource versions a request may be served "
        "from. Defaults to unset.",
    ),
    Parameter(
        "resourceVersionMatch",
        "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    ),
    Parameter(
        "sendInitialEvents",
        "`sendInitialEvents=true` may be set together with `watch=true`: the stream begins "
        "with synthetic ADDED events for every object, then a BOOKMARK annotated "
        '"k8s.io/initial-events-end".',
        "boolean",
    ),
    Parameter(
        "timeoutSeconds",
        "Timeout for the list/watch call, regardless of any activity or inactivity.",
        "integer",
    ),
    Parameter(
        "watch",
        "Watch for changes to the described resources and return them as a stream of add, "
        "update, and remove notifications.",
        "boolean",
    ),
)
