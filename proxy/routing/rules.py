"""Rule matching for the ``rules`` strategy: the first rule by ascending priority
(then declaration order) whose conditions all hold decides; ``defaultRule`` otherwise."""

from fnmatch import fnmatchcase

from switchboard.api.profile import ProfileConfig, Rule, RuleMatch
from switchboard.proxy.routing.types import RouteRequest


def matches(match: RuleMatch, request: RouteRequest) -> bool:
    """All set conditions hold. Model names may be globs (``gpt-4*``); header names are lower-case."""
    if match.models and not any(fnmatchcase(request.model, pattern) for pattern in match.models):
        return False
    if any(request.headers.get(k.lower()) != v for k, v in match.headers.items()):
        return False
    if any(request.metadata.get(k) != v for k, v in match.metadata.items()):
        return False
    if match.min_prompt_tokens is not None and request.prompt_tokens < match.min_prompt_tokens:
        return False
    if match.max_prompt_tokens is not None and request.prompt_tokens > match.max_prompt_tokens:
        return False
    return match.stream is None or match.stream == request.stream


def sorted_rules(profile: ProfileConfig) -> tuple[Rule, ...]:
    return tuple(sorted(profile.rules, key=lambda r: r.priority))


def select_rule(rules: tuple[Rule, ...], default: Rule | None, request: RouteRequest) -> Rule | None:
    return next((r for r in rules if matches(r.match, request)), default)
