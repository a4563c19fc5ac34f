"""Azure OpenAI: OpenAI's bodies, addressed by deployment (= the model's upstream name).

URL ``{base}/openai/deployments/{deployment}/{op}?api-version=...``, key in ``api-key``;
the model is implied by the deployment, so it is not sent in the body.
"""

from urllib.parse import quote, quote_plus

from switchboard.proxy.adapters.base import Target
from switchboard.proxy.adapters.openai import OpenAIAdapter


class AzureOpenAIAdapter(OpenAIAdapter):
    family = "azure-openai"

    def _url(self, target: Target, path: str) -> str:
        deployment = quote(target.upstream_model, safe="")
        version = quote_plus(target.provider.api_version or "")  # urlencode's own quoting, without its loop
        return f"{target.base_url}/openai/deployments/{deployment}/{path}?api-version={version}"

    def _headers(self, target: Target, *, stream: bool) -> dict[str, str]:
        headers = super()._headers(target, stream=stream)
        headers.pop("Authorization", None)
        if target.api_key:
            headers["api-key"] = target.api_key
        return headers

    def _model(self, target: Target) -> str | None:
        return None
