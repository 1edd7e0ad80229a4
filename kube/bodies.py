"""Request bodies in, for both servers: read whole up to a limit, decoded within bounds.

Reading (`read_body`) is the one way either server takes a body (API writes, `/hooks/git`,
admission reviews). aiohttp's `content.read(n)` returns what has arrived so far, so a body
sent in several TLS records was cut short; here the body is read to its end, Content-Length
or chunked, and refused with 413 as soon as it is past the limit (kube-apiserver's
limitedReadBody), or with 504 if it has not arrived within the connection's body timeout
(kube.serving; kube-apiserver's request timeout).

Decoding (`decode_json`, `decode_yaml`) turns every failure into a 400 BadRequest with
kube-apiserver's wording, never a traceback:

- Nesting is bounded at MAX_DEPTH levels of objects and arrays. kube-apiserver allows
  10,000 (encoding/json's maxNestingDepth, goyaml's max depth), but Python recurses: json
  gives up near 1,000 levels and PyYAML's emitter, which writes every commit, uses three
  frames a level, so 330 levels already failed in the store. 200 is three times the deepest
  real objects we know of (CRDs embedding pod templates: about 60 levels, counting the
  Manifest around them) and well inside what every path here handles (tested to 250). YAML
  is checked on its parse events before it is loaded, so the loader never sees a deeper
  document, and the loaded value again, since aliases can nest a document deeper than its
  text.
- Numbers must fit a 64-bit float, as in Kubernetes (an int64, else a float64, else
  "value out of range"). Python would take any integer and then fail to print one of more
  than 4,300 digits; the JSON decoder checks each integer as it reads it.
- A YAML value must be one JSON can hold: tags that make sets, bytes or dates are refused.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, Final

import yaml
from aiohttp import web

from kube import status
from kube.serving import abandon_body, limits_of
from store.loader import LoadError, load_json, load_yaml

MAX_DEPTH: Final = 200
"""Levels of objects and arrays a body may nest (see the module's docstring)."""
_MAX_NUMBER_DIGITS: Final = 400  # longer than any integer a float64 can hold (309 digits)
_FLOAT64_BITS: Final = 1024  # integers under 2**1024 may still round to the largest float64

_JSON_CONTEXT: Final = "couldn't get version/kind; json parse error: "
_YAML_CONTEXT: Final = "error converting YAML to JSON: yaml: "
_TIMED_OUT: Final = "request did not complete within requested timeout - context deadline exceeded"

_LONG_NUMBER: Final = re.compile(r"\d{16,}")
_YAMLLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


async def read_body(request: web.BaseRequest, limit: int) -> bytes:
    """The whole body of `request`: 413 past `limit` bytes, 504 if it comes too slowly,
    400 if its framing is broken (e.g. a bad chunk)."""
    if request.content_length is not None and request.content_length > limit:
        raise status.RequestEntityTooLarge.over_limit(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(limits_of(request).body_timeout):
            while chunk := await request.content.readany():
                size += len(chunk)
                if size > limit:
                    raise status.RequestEntityTooLarge.over_limit(limit)
                chunks.append(chunk)
    except TimeoutError:
        abandon_body(request)
        raise status.Timeout(_TIMED_OUT) from None
    except web.RequestPayloadError as exc:
        raise status.BadRequest(f"the request body could not be read: {exc}") from None
    return b"".join(chunks)


class _OutOfRange(ValueError):
    pass


class _TooDeep(ValueError):
    pass


class _NotJSON(ValueError):
    pass


def decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise status.BadRequest("the request body is not UTF-8") from None


def decode_json(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """One JSON value: 400 if it is not JSON, too deep, or holds an out-of-range number."""
    try:
        # The one loader (store.loader): duplicate keys, NaN and infinities refused, as
        # every reader of a committed file refuses them.
        value = load_json(text)
        # Counting brackets costs microseconds; only a body with many walks its tree, for
        # depth; only one with long digit runs, for numbers.
        if text.count("{") + text.count("[") > max_depth or _LONG_NUMBER.search(text):
            check_value(value, max_depth=max_depth, scalars=_LONG_NUMBER.search(text) is not None)
    except LoadError as exc:
        raise status.BadRequest(_JSON_CONTEXT + str(exc)) from None
    except json.JSONDecodeError as exc:
        raise status.BadRequest(
            f"{_JSON_CONTEXT}{exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise status.BadRequest(_JSON_CONTEXT + _too_deep(max_depth)) from None
    except ValueError as exc:  # _OutOfRange, _TooDeep
        raise status.BadRequest(_JSON_CONTEXT + str(exc)) from None
    return value


def decode_yaml(text: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """One YAML document as JSON would hold it; 400 otherwise. Its depth is checked on the
    parser's events first, so the loader (store.documents.load_yaml) is given only
    documents it can build without deep recursion."""
    try:
        _check_yaml_nesting(text, max_depth)
        value = load_yaml(text)
        check_value(value, max_depth=max_depth)
    except yaml.YAMLError as exc:
        if getattr(exc, "problem", None) == "exceeded maximum nesting depth":  # libyaml's own
            raise status.BadRequest(_YAML_CONTEXT + _too_deep(max_depth)) from None
        raise status.BadRequest(
            f"error converting YAML to JSON: {str(exc).splitlines()[0]}"
        ) from None
    except RecursionError:
        raise status.BadRequest(_YAML_CONTEXT + _too_deep(max_depth)) from None
    except ValueError as exc:  # ours, or a constructor's (e.g. `!!int x`)
        raise status.BadRequest(_YAML_CONTEXT + _value_error(exc)) from None
    return value


MAX_OBJECT_BYTES: Final = 1_572_864
"""An object's size as JSON at most: etcd's default --max-request-bytes, the largest
object a cluster stores, so the largest a reconciler could apply."""


def check_object_size(value: Any, text: str) -> None:
    """413 for an object larger, as JSON, than a cluster could store: a body within the
    3 MiB limit can still stand for far more (aliases of aliases, within go-yaml's
    bound, expand 20 KB of YAML to 2 MB), and every reader would pay for all of it."""
    if len(text) <= MAX_OBJECT_BYTES // 3 and "*" not in text:
        return  # too small to be that large as JSON
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
    if size > MAX_OBJECT_BYTES:
        raise status.RequestEntityTooLarge(
            f"the object is {size} bytes as JSON; a cluster stores objects of at most"
            f" {MAX_OBJECT_BYTES} bytes (etcd's limit), so no reconciler could apply it"
        )


def check_value(value: Any, *, max_depth: int = MAX_DEPTH, scalars: bool = True) -> None:
    """ValueError unless `value` is at most `max_depth` levels deep, counted along every
    path (YAML aliases share objects, so a value can be deeper than its text; a cycle is
    infinitely deep), and, with `scalars`, JSON-shaped with every number in float64's range.

    Level by level, without recursion; an object shared within a level is walked once, so
    an alias bomb costs what its distinct objects cost, times the levels they sit at."""
    if not isinstance(value, dict | list):
        if scalars:
            _check_scalar(value)
        return
    level: dict[int, Any] = {id(value): value}
    checked: set[int] = set()
    depth = 0
    while level:
        depth += 1
        if depth > max_depth:
            raise _TooDeep(_too_deep(max_depth))
        below: dict[int, Any] = {}
        for ident, container in level.items():
            children = container.values() if isinstance(container, dict) else container
            if not scalars or ident in checked:
                below.update((id(c), c) for c in children if isinstance(c, dict | list))
                continue
            checked.add(ident)
            if isinstance(container, dict):
                for key in container:
                    if type(key) is not str:
                        _check_key(key)
            for child in children:
                if isinstance(child, dict | list):
                    below[id(child)] = child
                else:
                    _check_scalar(child)
        level = below


_SCALARS: Final = (str, float, bool, type(None))


def _check_key(key: Any) -> None:
    # JSON object keys are strings; YAML's may be scalars, which become strings as in
    # sigs.k8s.io/yaml (json.dumps writes them so).
    if type(key) is int:
        _check_int(key)
    elif not isinstance(key, _SCALARS):
        raise _NotJSON(f"a mapping key of type {type(key).__name__} cannot be JSON")


def _check_scalar(value: Any) -> None:
    if type(value) is int:
        _check_int(value)
    elif not isinstance(value, _SCALARS):
        raise _NotJSON(f"a value of type {type(value).__name__} cannot be JSON")


def _check_int(value: int) -> None:
    if value.bit_length() >= _FLOAT64_BITS - 1:
        try:
            float(value)
        except OverflowError:
            raise _OutOfRange(_out_of_range()) from None


def _json_int(digits: str) -> int:
    if len(digits) > _MAX_NUMBER_DIGITS:
        raise _OutOfRange(_out_of_range(len(digits.lstrip("-"))))
    value = int(digits)
    _check_int(value)
    return value


def _check_yaml_nesting(text: str, max_depth: int) -> None:
    depth = 0
    loader = _YAMLLoader(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > max_depth:
                    raise _TooDeep(_too_deep(max_depth))
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    finally:
        loader.dispose()


def _too_deep(max_depth: int) -> str:
    return f"exceeded max depth of {max_depth}"  # goyaml's words, with our limit


def _out_of_range(digits: int | None = None) -> str:
    what = f"a number of {digits} digits" if digits else "a number"
    return f"value out of range: {what} does not fit a 64-bit float"


def _value_error(exc: ValueError) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "integer string conversion" in text:  # Python's 4,300-digit limit, in a constructor
        return _out_of_range()
    return text
