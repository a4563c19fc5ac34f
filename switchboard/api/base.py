"""Base model shared by every contract: camelCase on the wire, strict, immutable."""

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

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

    def to_wire(self) -> dict[str, object]:
        """The JSON-ready form with camelCase keys and unset optionals omitted."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
