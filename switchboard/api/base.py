"""Base model shared by every contract: camelCase on the wire, strict, immutable."""

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict, JsonValue

CelRule = tuple[str, str]

LIST_MAP_BY_NAME: JsonDict = {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]}
"""Field schema extra: the API server refuses two list items with the same ``name``
(the CRD twin of the validators' "must be unique" checks)."""

API_GROUP = "switchboard.dev"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"


class Model(BaseModel):
    """Kubernetes-style model: camelCase aliases, unknown fields refused, frozen.

    Frozen because a loaded config is shared by concurrent requests and swapped
    atomically on reload; nothing may mutate it in place.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy without the original's cached properties: they derive from fields ``update`` may change."""
        copied = super().model_copy(update=update, deep=deep)
        for cached in copied.__dict__.keys() - type(self).model_fields.keys():
            del copied.__dict__[cached]
        return copied

    def to_wire(self) -> dict[str, object]:
        """The JSON-ready form with camelCase keys and unset optionals omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def cel_rules(*rules: CelRule) -> ConfigDict:
    """Config carrying Kubernetes CEL rules (``x-kubernetes-validations``) for the generated CRD.

    Each rule is ``(expression, message)`` and mirrors a pydantic validator of the
    same model, declared right next to it, so the API server refuses what pydantic
    refuses with the same wording. ``self`` is the object in its camelCase wire form.
    A subclass that adds rules must repeat its parent's: config merging is shallow.
    """
    validations: list[JsonValue] = [{"rule": rule, "message": message} for rule, message in rules]
    return ConfigDict(json_schema_extra={"x-kubernetes-validations": validations})
