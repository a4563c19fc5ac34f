"""Rule matching for the ``rules`` strategy: the first rule by ascending priority
(then declaration order) whose conditions all hold decides; ``defaultRule`` otherwise.

Rules are compiled once per reload (model globs to one regex, unset conditions
dropped) so matching a request costs only the checks a rule actually sets.
"""

import re
from dataclasses import dataclass
from fnmatch import translate

from switchboard.api.profile import ProfileConfig, Rule, RuleMatch
from switchboard.proxy.routing.types import RouteRequest


@dataclass(frozen=True, slots=True)
class CompiledMatch:
    """A RuleMatch reduced to the conditions it sets."""

    models: re.Pattern[str] | None  # any of the globs, fnmatchcase semantics
    headers: tuple[tuple[str, str], ...]  # lower-case names
    metadata: tuple[tuple[str, str], ...]
    min_prompt_tokens: int | None
    max_prompt_tokens: int | None
    stream: bool | None

    @classmethod
    def of(cls, match: RuleMatch) -> "CompiledMatch":
        models = re.compile("|".join(translate(p) for p in match.models)) if match.models else None
        return cls(
            models=models,
            headers=tuple((k.lower(), v) for k, v in match.headers.items()),
            metadata=tuple(match.metadata.items()),
            min_prompt_tokens=match.min_prompt_tokens,
            max_prompt_tokens=match.max_prompt_tokens,
            stream=match.stream,
        )

    def matches(self, request: RouteRequest) -> bool:
        """All set conditions hold. Model names may be globs (``gpt-4*``); header names are lower-case."""
        if self.models is not None and self.models.match(request.model) is None:
            return False
        if self.headers and any(request.headers.get(k) != v for k, v in self.headers):
            return False
        if self.metadata and any(request.metadata.get(k) != v for k, v in self.metadata):
            return False
        if self.min_prompt_tokens is not None and request.prompt_tokens < self.min_prompt_tokens:
            return False
        if self.max_prompt_tokens is not None and request.prompt_tokens > self.max_prompt_tokens:
            return False
        return self.stream is None or self.stream == request.stream


def compile_rules(profile: ProfileConfig) -> tuple[tuple[Rule, CompiledMatch], ...]:
    """The profile's rules by ascending priority (stable), each with its compiled match."""
    return tuple((r, CompiledMatch.of(r.match)) for r in sorted(profile.rules, key=lambda r: r.priority))


def select_rule(
    rules: tuple[tuple[Rule, CompiledMatch], ...], default: Rule | None, request: RouteRequest
) -> Rule | None:
    return next((rule for rule, match in rules if match.matches(request)), default)
