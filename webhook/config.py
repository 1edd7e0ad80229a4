"""Webhook policy: default mode, exempt identities, break-glass group, strict namespaces."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from kube.admission import UserInfo

MODES = ("enforce", "warn", "off")

# Reconcilers that apply Git themselves, and Kubernetes' own machinery. Globs use `*`.
DEFAULT_EXEMPT_USERS = (
    "system:serviceaccount:argocd:argocd-application-controller",
    "system:serviceaccount:flux-system:kustomize-controller",
    "system:serviceaccount:flux-system:helm-controller",
    "system:kube-controller-manager",
    "system:kube-scheduler",
    "system:serviceaccount:kube-system:*",
    "system:node:*",
    "system:serviceaccount:gitplane-system:gitplane-apiserver",
    "system:serviceaccount:gitplane-system:gitplane-webhook",
)
DEFAULT_EXEMPT_GROUPS = ("system:nodes",)
DEFAULT_BREAK_GLASS_GROUP = "gitplane:break-glass"
_MAX_CACHED_IDENTITIES = 4096


class ConfigError(ValueError):
    """A setting has a value the webhook cannot use."""


@dataclass(frozen=True)
class WebhookConfig:
    default_mode: str = "enforce"
    exempt_users: tuple[str, ...] = DEFAULT_EXEMPT_USERS
    exempt_groups: tuple[str, ...] = DEFAULT_EXEMPT_GROUPS
    break_glass_group: str = DEFAULT_BREAK_GLASS_GROUP
    strict_namespaces: frozenset[str] = frozenset()
    _users: re.Pattern[str] = field(init=False, repr=False, compare=False)
    _groups: re.Pattern[str] = field(init=False, repr=False, compare=False)
    # (username, groups) -> exempt; a cluster has a bounded set of identities.
    _exempt: dict[tuple[str, tuple[str, ...]], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.default_mode not in MODES:
            raise ConfigError(
                f"default mode must be one of {', '.join(MODES)}, got {self.default_mode!r}"
            )
        if not self.break_glass_group:
            raise ConfigError("the break-glass group must not be empty")
        # One compiled alternation keeps the per-request check a single match.
        object.__setattr__(self, "_users", _globs(self.exempt_users))
        object.__setattr__(self, "_groups", _globs(self.exempt_groups))
        object.__setattr__(self, "_exempt", {})

    @classmethod
    def with_additions(
        cls,
        *,
        default_mode: str | None = None,
        exempt_users: Iterable[str] = (),
        exempt_groups: Iterable[str] = (),
        break_glass_group: str | None = None,
        strict_namespaces: Iterable[str] = (),
    ) -> WebhookConfig:
        """Defaults plus the operator's settings; exemptions add to the defaults."""
        return cls(
            default_mode=default_mode or "enforce",
            exempt_users=DEFAULT_EXEMPT_USERS + tuple(exempt_users),
            exempt_groups=DEFAULT_EXEMPT_GROUPS + tuple(exempt_groups),
            break_glass_group=break_glass_group or DEFAULT_BREAK_GLASS_GROUP,
            strict_namespaces=frozenset(strict_namespaces),
        )

    def is_exempt(self, user: UserInfo) -> bool:
        key = (user.username, user.groups)
        found = self._exempt.get(key)
        if found is None:
            found = self._users.fullmatch(user.username) is not None or any(
                self._groups.fullmatch(group) for group in user.groups
            )
            if len(self._exempt) >= _MAX_CACHED_IDENTITIES:
                self._exempt.clear()
            self._exempt[key] = found
        return found

    def may_break_glass(self, user: UserInfo) -> bool:
        return self.break_glass_group in user.groups


def _globs(patterns: Iterable[str]) -> re.Pattern[str]:
    alternatives = [".*".join(re.escape(part) for part in p.split("*")) for p in patterns if p]
    # `(?!)` never matches: no patterns, nobody exempt.
    return re.compile("|".join(f"(?:{a})" for a in alternatives) or "(?!)")
