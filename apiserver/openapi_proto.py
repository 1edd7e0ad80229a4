"""The swagger 2.0 document as protocol buffers: gnostic's `openapi.v2.Document` message.

kubectl reads `/openapi/v2` only as protobuf (`Accept:
application/com.github.proto-openapi.spec.v2@v1.0+protobuf`) and needs it whenever it
validates on the client side: for a kind whose OpenAPI v3 has no PATCH operation listing
`fieldValidation` (Revert, Rollback, ChangeSet), for `kubectl explain --output
plaintext-openapiv2`. kube-apiserver turns its JSON into this message with gnostic
(`openapi_v2.ParseDocument`, then `proto.Marshal`); `encode_document` does the same for the
dict `openapi.openapi_v2` builds, with a hand-written encoder (no protobuf dependency).

What the message looks like (field numbers from gnostic's openapiv2/OpenAPIv2.proto):
- every JSON object becomes its message; keys `x-...` become `repeated NamedAny
  vendor_extension`, whose value is `Any{yaml: <the value as YAML>}`: kubectl unmarshals that
  YAML (x-kubernetes-group-version-kind is how it finds a kind's definition);
- maps (paths, definitions, properties, responses...) become repeated `Named*{name, value}`;
- JSON-Schema unions become wrapper messages: `type` is `TypeItem{repeated value}`, `items`
  `ItemsItem{repeated schema}`, `additionalProperties` `{schema | boolean}`, a parameter
  `ParametersItem{parameter{body | non_body{header | form_data | query | path}} |
  json_reference}`, a response `ResponseValue{response | json_reference}`;
- `default`, `example` and each `enum` value are `Any{yaml}` too.
Keys are taken in sorted order (as Go marshals the JSON gnostic parses), fields in number order,
proto3 defaults ("" / 0 / false) left out, a present object always written (even empty). A key
this encoder does not know raises ValueError (gnostic rejects unknown keys too), so a
document that would be silently cut short is caught by the tests, not served.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

JSONObject = dict[str, Any]

CONTENT_TYPE: Final = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
"""What kube-openapi answers with, whichever of the two protobuf media types was asked."""
ACCEPTED_MEDIA_TYPES: Final = (
    "application/com.github.proto-openapi.spec.v2@v1.0+protobuf",  # what client-go sends
    CONTENT_TYPE,  # kube-openapi's newer name, never sent by kubectl 1.37
)

# --- wire format ------------------------------------------------------------------------------

_VARINT: Final = 0
_FIXED64: Final = 1
_LENGTH_DELIMITED: Final = 2


def varint(n: int) -> bytes:
    """Base-128, least significant group first; a negative int64 takes ten bytes."""
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def _delimited(number: int, payload: bytes) -> bytes:
    return _tag(number, _LENGTH_DELIMITED) + varint(len(payload)) + payload


# --- scalar codecs: (field number, JSON value, where) -> the encoded field, b"" if default ------

Codec = Callable[[int, Any, str], bytes]


def _wrong(where: str, expected: str, value: Any) -> ValueError:
    return ValueError(f"OpenAPI v2 {where}: expected {expected}, got {value!r}")


def _string(number: int, value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise _wrong(where, "a string", value)
    return _delimited(number, value.encode()) if value else b""


def _strings(number: int, value: Any, where: str) -> bytes:
    # Every element of a repeated field is written, "" included.
    out = b""
    for item in _list(value, where):
        if not isinstance(item, str):
            raise _wrong(where, "a list of strings", value)
        out += _delimited(number, item.encode())
    return out


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _wrong(where, "a list", value)
    return value


def _bool(number: int, value: Any, where: str) -> bytes:
    if not isinstance(value, bool):
        raise _wrong(where, "a boolean", value)
    return _tag(number, _VARINT) + b"\x01" if value else b""


def _int64(number: int, value: Any, where: str) -> bytes:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(where, "an integer", value)
    return _tag(number, _VARINT) + varint(value) if value else b""


def _double(number: int, value: Any, where: str) -> bytes:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _wrong(where, "a number", value)
    return _tag(number, _FIXED64) + struct.pack("<d", float(value)) if value else b""


def to_yaml(value: Any) -> str:
    """A JSON value as YAML text, as gnostic keeps it in `Any.yaml` (`true\\n`, `- group: ...`)."""
    text = yaml.safe_dump(
        value, default_flow_style=False, allow_unicode=True, sort_keys=True, width=1 << 30
    )
    return text.removesuffix("...\n")  # PyYAML ends a lone scalar with an explicit doc end


def _any_message(value: Any) -> bytes:
    """Any { google.protobuf.Any value = 1; string yaml = 2; }: gnostic fills only `yaml`."""
    return _delimited(2, to_yaml(value).encode())


def _any(number: int, value: Any, where: str) -> bytes:
    return _delimited(number, _any_message(value))


def _anys(number: int, value: Any, where: str) -> bytes:
    return b"".join(_any(number, item, where) for item in _list(value, where))


# --- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One gnostic message: JSON key -> (field number, codec). `extensions` is the number of
    its `repeated NamedAny vendor_extension` field (0: it has none, `x-` keys are errors)."""

    name: str
    fields: Mapping[str, tuple[int, Codec]] = field(default_factory=dict)
    extensions: int = 0

    def encode(self, value: Any, where: str) -> bytes:
        if not isinstance(value, dict):
            raise _wrong(where, f"an object ({self.name})", value)
        parts: list[tuple[int, bytes]] = []
        for key in sorted(value):
            item, at = value[key], f"{where}.{key}"
            if key in self.fields:
                number, codec = self.fields[key]
                parts.append((number, codec(number, item, at)))
            elif self.extensions and key.startswith("x-"):
                parts.append((self.extensions, _named_any(self.extensions, key, item)))
            else:
                raise ValueError(f"OpenAPI v2 {at}: {key!r} is not a field of {self.name}")
        parts.sort(key=lambda part: part[0])  # stable: a repeated field keeps its order
        return b"".join(encoded for _, encoded in parts)


def _named_any(number: int, name: str, value: Any) -> bytes:
    """NamedAny { string name = 1; Any value = 2; }"""
    return _delimited(number, _delimited(1, name.encode()) + _delimited(2, _any_message(value)))


def _message(name: str) -> Codec:
    """A field holding one message (looked up when used, so messages can nest themselves)."""

    def codec(number: int, value: Any, where: str) -> bytes:
        return _delimited(number, MESSAGES[name].encode(value, where))

    return codec


def _repeated(name: str) -> Codec:
    def codec(number: int, value: Any, where: str) -> bytes:
        return b"".join(
            _delimited(number, MESSAGES[name].encode(item, f"{where}[{i}]"))
            for i, item in enumerate(_list(value, where))
        )

    return codec


def _named(value_codec: Codec) -> Codec:
    """A JSON object as `repeated Named* {string name = 1; <value> value = 2;}`, by key."""

    def codec(number: int, value: Any, where: str) -> bytes:
        if not isinstance(value, dict):
            raise _wrong(where, "an object", value)
        return b"".join(
            _delimited(
                number, _string(1, key, where) + value_codec(2, value[key], f"{where}.{key}")
            )
            for key in sorted(value)
        )

    return codec


def _map_message(value_codec: Codec) -> Codec:
    """A message whose only field is `repeated Named* additional_properties = 1`
    (Definitions, Properties, Headers, Examples, ParameterDefinitions, ...)."""
    pairs = _named(value_codec)

    def codec(number: int, value: Any, where: str) -> bytes:
        return _delimited(number, pairs(1, value, where))

    return codec


_NON_BODY: Final = {  # NonBodyParameter's oneof, by `in`
    "header": (1, "HeaderParameterSubSchema"),
    "formData": (2, "FormDataParameterSubSchema"),
    "query": (3, "QueryParameterSubSchema"),
    "path": (4, "PathParameterSubSchema"),
}


def _parameter_message(value: Any, where: str) -> bytes:
    """Parameter { BodyParameter body_parameter = 1 | NonBodyParameter non_body_parameter = 2 },
    NonBodyParameter being a oneof of the four sub-schemas, chosen by `in`."""
    if not isinstance(value, dict):
        raise _wrong(where, "a parameter object", value)
    located = value.get("in")
    if located == "body":
        return _delimited(1, MESSAGES["BodyParameter"].encode(value, where))
    if located in _NON_BODY:
        inner, name = _NON_BODY[located]
        return _delimited(2, _delimited(inner, MESSAGES[name].encode(value, where)))
    raise _wrong(f"{where}.in", "body, header, formData, query or path", located)


def _parameter(number: int, value: Any, where: str) -> bytes:
    """A Parameter field (ParameterDefinitions' values)."""
    return _delimited(number, _parameter_message(value, where))


def _parameters_item(number: int, value: Any, where: str) -> bytes:
    """ParametersItem { Parameter parameter = 1 | JsonReference json_reference = 2 }"""
    if isinstance(value, dict) and "$ref" in value:
        return _delimited(number, _delimited(2, MESSAGES["JsonReference"].encode(value, where)))
    return _delimited(number, _parameter(1, value, where))


def _parameters(number: int, value: Any, where: str) -> bytes:
    return b"".join(
        _parameters_item(number, item, f"{where}[{i}]")
        for i, item in enumerate(_list(value, where))
    )


def _type_item(number: int, value: Any, where: str) -> bytes:
    """TypeItem { repeated string value = 1; }: `type` is a string or a list of them."""
    return _delimited(number, _strings(1, value if isinstance(value, list) else [value], where))


def _items_item(number: int, value: Any, where: str) -> bytes:
    """ItemsItem { repeated Schema schema = 1; }: `items` is a schema or a list of them."""
    return _delimited(
        number, _repeated("Schema")(1, value if isinstance(value, list) else [value], where)
    )


def _additional_properties(number: int, value: Any, where: str) -> bytes:
    """AdditionalPropertiesItem { oneof { Schema schema = 1; bool boolean = 2; } }"""
    if isinstance(value, bool):
        return _delimited(number, _tag(2, _VARINT) + varint(int(value)))  # set even if false
    return _delimited(number, _message("Schema")(1, value, where))


def _security(number: int, value: Any, where: str) -> bytes:
    """`repeated SecurityRequirement`, each { repeated NamedStringArray additional_properties
    = 1; } where StringArray { repeated string value = 1; }."""
    pairs = _named(lambda n, scopes, at: _delimited(n, _strings(1, scopes, at)))
    return b"".join(
        _delimited(number, pairs(1, item, f"{where}[{i}]"))
        for i, item in enumerate(_list(value, where))
    )


def _security_definitions(number: int, value: Any, where: str) -> bytes:
    """SecurityDefinitions: NamedSecurityDefinitionsItem, a oneof by `type` (and `flow`)."""
    by_kind = {
        ("basic", None): (1, "BasicAuthenticationSecurity"),
        ("apiKey", None): (2, "ApiKeySecurity"),
        ("oauth2", "implicit"): (3, "Oauth2ImplicitSecurity"),
        ("oauth2", "password"): (4, "Oauth2PasswordSecurity"),
        ("oauth2", "application"): (5, "Oauth2ApplicationSecurity"),
        ("oauth2", "accessCode"): (6, "Oauth2AccessCodeSecurity"),
    }

    def item(n: int, scheme: Any, at: str) -> bytes:
        if not isinstance(scheme, dict):
            raise _wrong(at, "a security scheme", scheme)
        kind = (scheme.get("type"), scheme.get("flow") if scheme.get("type") == "oauth2" else None)
        if kind not in by_kind:
            raise _wrong(f"{at}.type", "basic, apiKey or oauth2 with a flow", scheme.get("type"))
        inner, name = by_kind[kind]
        return _delimited(n, _delimited(inner, MESSAGES[name].encode(scheme, at)))

    return _map_message(item)(number, value, where)


def _paths(number: int, value: Any, where: str) -> bytes:
    """Paths { repeated NamedAny vendor_extension = 1; repeated NamedPathItem path = 2; }"""
    if not isinstance(value, dict):
        raise _wrong(where, "an object", value)
    extensions = b"".join(
        _named_any(1, k, v) for k, v in sorted(value.items()) if k.startswith("x-")
    )
    paths = {k: v for k, v in value.items() if not k.startswith("x-")}
    if bad := [k for k in paths if not k.startswith("/")]:
        raise ValueError(f"OpenAPI v2 {where}: {bad[0]!r} is neither a path nor an x- key")
    return _delimited(number, extensions + _named(_message("PathItem"))(2, paths, where))


def _responses(number: int, value: Any, where: str) -> bytes:
    """Responses { repeated NamedResponseValue response_code = 1; repeated NamedAny
    vendor_extension = 2; }; ResponseValue { Response response = 1 | JsonReference = 2 }."""
    if not isinstance(value, dict):
        raise _wrong(where, "an object", value)
    extensions = b"".join(
        _named_any(2, k, v) for k, v in sorted(value.items()) if k.startswith("x-")
    )
    codes = {k: v for k, v in value.items() if not k.startswith("x-")}
    if bad := [k for k in codes if not (k == "default" or (len(k) == 3 and k.isdigit()))]:
        raise ValueError(f"OpenAPI v2 {where}: {bad[0]!r} is not a status code")
    return _delimited(number, _named(_response_value)(1, codes, where) + extensions)


def _response_value(number: int, value: Any, where: str) -> bytes:
    """ResponseValue { Response response = 1 | JsonReference json_reference = 2 }"""
    if isinstance(value, dict) and "$ref" in value:
        return _delimited(number, _delimited(2, MESSAGES["JsonReference"].encode(value, where)))
    return _delimited(number, _delimited(1, MESSAGES["Response"].encode(value, where)))


def _schema_item(number: int, value: Any, where: str) -> bytes:
    """SchemaItem { Schema schema = 1 | FileSchema file_schema = 2 }"""
    is_file = isinstance(value, dict) and value.get("type") == "file"
    inner, name = (2, "FileSchema") if is_file else (1, "Schema")
    return _delimited(number, _delimited(inner, MESSAGES[name].encode(value, where)))


def _simple_schema(first: int, items: Codec) -> dict[str, tuple[int, Codec]]:
    """The 17 validation keywords of a non-body parameter, header or primitive item, which
    every such gnostic message numbers in this order from `first` on."""
    codecs: list[tuple[str, Codec]] = [
        ("type", _string), ("format", _string), ("items", items),
        ("collectionFormat", _string), ("default", _any), ("maximum", _double),
        ("exclusiveMaximum", _bool), ("minimum", _double), ("exclusiveMinimum", _bool),
        ("maxLength", _int64), ("minLength", _int64), ("pattern", _string),
        ("maxItems", _int64), ("minItems", _int64), ("uniqueItems", _bool), ("enum", _anys),
        ("multipleOf", _double),
    ]  # fmt: skip
    return {key: (first + i, codec) for i, (key, codec) in enumerate(codecs)}


_PRIMITIVES: Final = _message("PrimitivesItems")
_PARAMETER_HEAD: Final = {
    "required": (1, _bool), "in": (2, _string), "description": (3, _string), "name": (4, _string)
}  # fmt: skip
_EXTERNAL_DOCS: Final = _message("ExternalDocs")
_OPERATION: Final = _message("Operation")
_SCOPES: Final = _map_message(_string)  # Oauth2Scopes { repeated NamedString ... = 1; }


def _messages(*messages: Message) -> dict[str, Message]:
    return {message.name: message for message in messages}


MESSAGES: Final = _messages(
    Message("Document", {
        "swagger": (1, _string), "info": (2, _message("Info")), "host": (3, _string),
        "basePath": (4, _string), "schemes": (5, _strings), "consumes": (6, _strings),
        "produces": (7, _strings), "paths": (8, _paths),
        "definitions": (9, _map_message(_message("Schema"))),  # Definitions
        "parameters": (10, _map_message(_parameter)),  # ParameterDefinitions
        "responses": (11, _map_message(_message("Response"))),  # ResponseDefinitions
        "security": (12, _security),
        "securityDefinitions": (13, _security_definitions), "tags": (14, _repeated("Tag")),
        "externalDocs": (15, _EXTERNAL_DOCS),
    }, extensions=16),
    Message("Info", {
        "title": (1, _string), "version": (2, _string), "description": (3, _string),
        "termsOfService": (4, _string), "contact": (5, _message("Contact")),
        "license": (6, _message("License")),
    }, extensions=7),
    Message("Contact", {"name": (1, _string), "url": (2, _string), "email": (3, _string)},
            extensions=4),
    Message("License", {"name": (1, _string), "url": (2, _string)}, extensions=3),
    Message("ExternalDocs", {"description": (1, _string), "url": (2, _string)}, extensions=3),
    Message("Tag", {
        "name": (1, _string), "description": (2, _string), "externalDocs": (3, _EXTERNAL_DOCS),
    }, extensions=4),
    Message("PathItem", {
        "$ref": (1, _string), "get": (2, _OPERATION), "put": (3, _OPERATION),
        "post": (4, _OPERATION), "delete": (5, _OPERATION), "options": (6, _OPERATION),
        "head": (7, _OPERATION), "patch": (8, _OPERATION), "parameters": (9, _parameters),
    }, extensions=10),
    Message("Operation", {
        "tags": (1, _strings), "summary": (2, _string), "description": (3, _string),
        "externalDocs": (4, _EXTERNAL_DOCS), "operationId": (5, _string),
        "produces": (6, _strings), "consumes": (7, _strings), "parameters": (8, _parameters),
        "responses": (9, _responses), "schemes": (10, _strings), "deprecated": (11, _bool),
        "security": (12, _security),
    }, extensions=13),
    Message("JsonReference", {"$ref": (1, _string), "description": (2, _string)}),
    Message("BodyParameter", {
        "description": (1, _string), "name": (2, _string), "in": (3, _string),
        "required": (4, _bool), "schema": (5, _message("Schema")),
    }, extensions=6),
    Message("HeaderParameterSubSchema", {**_PARAMETER_HEAD, **_simple_schema(5, _PRIMITIVES)},
            extensions=22),
    Message("PathParameterSubSchema", {**_PARAMETER_HEAD, **_simple_schema(5, _PRIMITIVES)},
            extensions=22),
    Message("QueryParameterSubSchema", {
        **_PARAMETER_HEAD, "allowEmptyValue": (5, _bool), **_simple_schema(6, _PRIMITIVES),
    }, extensions=23),
    Message("FormDataParameterSubSchema", {
        **_PARAMETER_HEAD, "allowEmptyValue": (5, _bool), **_simple_schema(6, _PRIMITIVES),
    }, extensions=23),
    Message("PrimitivesItems", _simple_schema(1, _PRIMITIVES), extensions=18),
    Message("Header", {**_simple_schema(1, _PRIMITIVES), "description": (18, _string)},
            extensions=19),
    Message("Response", {
        "description": (1, _string), "schema": (2, _schema_item),
        "headers": (3, _map_message(_message("Header"))),  # Headers
        "examples": (4, _map_message(_any)),  # Examples
    }, extensions=5),
    Message("Schema", {
        "$ref": (1, _string), "format": (2, _string), "title": (3, _string),
        "description": (4, _string), "default": (5, _any), "multipleOf": (6, _double),
        "maximum": (7, _double), "exclusiveMaximum": (8, _bool), "minimum": (9, _double),
        "exclusiveMinimum": (10, _bool), "maxLength": (11, _int64), "minLength": (12, _int64),
        "pattern": (13, _string), "maxItems": (14, _int64), "minItems": (15, _int64),
        "uniqueItems": (16, _bool), "maxProperties": (17, _int64),
        "minProperties": (18, _int64), "required": (19, _strings), "enum": (20, _anys),
        "additionalProperties": (21, _additional_properties), "type": (22, _type_item),
        "items": (23, _items_item), "allOf": (24, _repeated("Schema")),
        "properties": (25, _map_message(_message("Schema"))),  # Properties
        "discriminator": (26, _string), "readOnly": (27, _bool), "xml": (28, _message("Xml")),
        "externalDocs": (29, _EXTERNAL_DOCS), "example": (30, _any),
    }, extensions=31),
    Message("FileSchema", {
        "format": (1, _string), "title": (2, _string), "description": (3, _string),
        "default": (4, _any), "required": (5, _strings), "type": (6, _string),
        "readOnly": (7, _bool), "externalDocs": (8, _EXTERNAL_DOCS), "example": (9, _any),
    }, extensions=10),
    Message("Xml", {
        "name": (1, _string), "namespace": (2, _string), "prefix": (3, _string),
        "attribute": (4, _bool), "wrapped": (5, _bool),
    }, extensions=6),
    Message("BasicAuthenticationSecurity", {"type": (1, _string), "description": (2, _string)},
            extensions=3),
    Message("ApiKeySecurity", {
        "type": (1, _string), "name": (2, _string), "in": (3, _string),
        "description": (4, _string),
    }, extensions=5),
    Message("Oauth2ImplicitSecurity", {
        "type": (1, _string), "flow": (2, _string), "scopes": (3, _SCOPES),
        "authorizationUrl": (4, _string), "description": (5, _string),
    }, extensions=6),
    Message("Oauth2PasswordSecurity", {
        "type": (1, _string), "flow": (2, _string), "scopes": (3, _SCOPES),
        "tokenUrl": (4, _string), "description": (5, _string),
    }, extensions=6),
    Message("Oauth2ApplicationSecurity", {
        "type": (1, _string), "flow": (2, _string), "scopes": (3, _SCOPES),
        "tokenUrl": (4, _string), "description": (5, _string),
    }, extensions=6),
    Message("Oauth2AccessCodeSecurity", {
        "type": (1, _string), "flow": (2, _string), "scopes": (3, _SCOPES),
        "authorizationUrl": (4, _string), "tokenUrl": (5, _string),
        "description": (6, _string),
    }, extensions=7),
)  # fmt: skip


def encode_document(document: JSONObject) -> bytes:
    """The `openapi.v2.Document` bytes of a swagger 2.0 document (as `openapi_v2` builds it)."""
    return MESSAGES["Document"].encode(document, "document")
