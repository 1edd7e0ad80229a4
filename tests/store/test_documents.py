"""The fast YAML path gives what PyYAML's own safe loader gives, for every document
Kubernetes' strict decoder would take (tests/store/test_loader.py: the ones it refuses)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from store import documents
from store.documents import LoadedDocuments, load_yaml, parse_file, split_segments
from store.keys import ObjectKey
from store.repo import GitStore
from tests.store.conftest import ALICE, GitRunner, deployment
from tests.store.realistic_repo import FILES


class ReferenceLoader(yaml.SafeLoader):
    """PyYAML's pure-Python safe loader, timestamps left as strings like Kubernetes does."""


ReferenceLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

TRICKY = [
    "mode: 0644\nenabled: yes\noff_value: off\nbig: 1_000\nhex: 0x1F\nf: 1.5e3\nnothing: ~\n",
    "forced: !!str 5\ndate: 2024-01-01\nclock: 12:30\nq: '0644'\ndq: \"yes\"\n",
    "base: &b {x: 1, y: [1, 2]}\nother: *b\nmerged:\n  <<: *b\n  z: 3\n",
    "- 1\n- [2, {a: b}]\n- !!float 3\n",
    "x: 'quoted'\ny: \"dq\\n\"\nz: |\n  block\n  text\nw: >\n  folded\n  text\n",
    "",
    "# only a comment\n",
]


def _reference(text: str) -> Any:
    return yaml.load(text, Loader=ReferenceLoader)


@pytest.mark.parametrize("text", TRICKY + [s for t in FILES.values() for s in split_segments(t)])
def test_fast_loader_matches_pyyaml(text: str) -> None:
    try:
        expected = _reference(text)
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            load_yaml(text)
        return
    assert load_yaml(text) == expected


def test_aliases_are_shared_not_copied_and_recursion_is_refused() -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(2)
    )
    doc = load_yaml(laughs)
    assert doc["c"][0] is doc["c"][1]
    with pytest.raises(yaml.YAMLError, match="recursive alias"):
        load_yaml("a: &x [*x]\n")


def test_segments_join_back_to_the_file() -> None:
    for text in [*FILES.values(), "a: 1\n---\n# c\nb: 2\n...\n---\nc: 3\n", "---\n", "x"]:
        assert "".join(split_segments(text)) == text


def test_non_utf8_and_non_mapping_documents_are_problems() -> None:
    parsed = parse_file("ns/a.yaml", b"\xff\xfe", "ns")
    assert parsed.problems[0].message.startswith("not UTF-8")
    parsed = parse_file("ns/b.yaml", b"- just\n- a list\n---\nkind: Thing\n", "ns")
    assert [p.message.split(",")[0] for p in parsed.problems] == [
        "document is not a mapping",
        "not a valid Kubernetes object: apiVersion: Required value; metadata: Required value;"
        " metadata.name: Required value",
    ]


def test_a_document_handed_over_is_taken_once_and_only_for_its_own_text() -> None:
    loaded = LoadedDocuments(kept=2)
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: one\n"
    document = load_yaml(text)
    loaded.hand_over(text, document)
    assert loaded.take(text + "\n") is None
    assert loaded.take(text) is document
    assert loaded.take(text) is None  # never shared by two readers
    for name in ("a", "b", "c"):  # a write never committed: the oldest go
        loaded.hand_over(name, name)
    assert [loaded.take(name) for name in ("a", "b", "c")] == [None, "b", "c"]


def test_a_committed_file_is_parsed_from_the_document_its_write_checked(
    store: GitStore, git: GitRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.create(deployment(), ALICE)
    loads: list[str] = []
    real_load = documents.load_yaml

    def counted_load(text: str) -> Any:
        loads.append(text)
        return real_load(text)

    monkeypatch.setattr(documents, "load_yaml", counted_load)  # the parse path's loader
    store.update(deployment(replicas=5), ALICE)  # spliced in place, checked by loading it
    assert loads == []
    on_disk = git("show", "HEAD:shop/deployment-web.yaml")
    parsed = store.get(ObjectKey("apps", "Deployment", "shop", "web")).obj
    assert parsed["spec"] == yaml.safe_load(on_disk)["spec"]
    assert parsed["spec"]["replicas"] == 5
