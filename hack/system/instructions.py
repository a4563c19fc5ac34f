"""What ``make run`` prints once the system is up (pure: text from URLs and paths)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path


def instructions(
    proxies: Sequence[str], mocks: Mapping[str, str], kubeconfig: Path, namespace: str, run_dir: Path
) -> str:
    proxy = proxies[0]
    broken = mocks.get("openai-mock", next(iter(mocks.values()), "http://127.0.0.1:18081"))
    replicas = "  ".join(proxies)
    ns = "" if namespace == "default" else f" -n {namespace}"
    return f"""
Switchboard is running on a local control plane (logs and pids: {run_dir}).
Proxy replicas: {replicas}

  export KUBECONFIG={kubeconfig}
  kubectl get llmproviders{ns}          # TYPE, CIRCUIT, P50, ERROR-RATE per upstream
  kubectl get rp{ns}                    # STRATEGY, PROVIDERS, READY, IN-SYNC per profile

  curl -s {proxy}/v1/chat/completions -H 'Content-Type: application/json' \\
    -d '{{"model": "gpt-4o", "messages": [{{"role": "user", "content": "Hello Switchboard"}}]}}'

  .venv/bin/python - <<'PY'
from openai import OpenAI
client = OpenAI(base_url="{proxy}/v1", api_key="unused")
reply = client.chat.completions.create(model="gpt-4o", messages=[{{"role": "user", "content": "Hi"}}])
print(reply.choices[0].message.content)
PY

Watch a circuit open: break the openai-mock upstream (every request gets a 500) ...
  curl -s -X POST {broken}/_mock/faults -H 'Content-Type: application/json' -d '{{"model": "*", "status": 500}}'
... send a few gpt-4o requests (they fail over to anthropic-mock; the client sees no error) ...
  body='{{"model": "gpt-4o", "messages": [{{"role": "user", "content": "hi"}}]}}'
  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{{http_code}} ' {proxy}/v1/chat/completions \\
    -H 'Content-Type: application/json' -d "$body"; done
  kubectl get llmproviders{ns} -w       # openai-mock: CIRCUIT open
... then repair it; after openSeconds a probe succeeds and the circuit closes:
  curl -s -X DELETE {broken}/_mock/faults

Edit examples/cluster/*.yaml and `kubectl apply -f` them: every replica reloads within a second.
`make down` stops everything (processes, ports, the cluster).
"""
