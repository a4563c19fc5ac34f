"""One owner per attempt: from ``router.started`` to exactly one reported outcome.

``OwnedAttempt`` is the only place an attempt starts and ends. Whatever ends
it (an answer, an upstream failure, the client going away, cancellation, a bug)
it reports one outcome, typed by who failed, to the router, the metrics, the
log and the request's labels. Only upstream failures count against a provider
(breakers, error rates, ``switchboard_upstream_errors_total``); everything else
is neutral for it.

The attempt's total time (``timeouts.totalSeconds`` capped by the request
deadline) is enforced here, on the event loop's clock, so it holds to the
millisecond instead of aiohttp's rounding up to whole seconds; so is the
upstream's silence (``timeouts.firstByteSeconds``), by the same one timer.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable
from types import TracebackType

import aiohttp

from switchboard.proxy.adapters.base import Usage
from switchboard.proxy.cost import cost_usd
from switchboard.proxy.http.app_keys import RequestState
from switchboard.proxy.routing.types import Attempt, Outcome
from switchboard.proxy.telemetry.spans import AttemptTrace, attempt_trace
from switchboard.proxy.upstream.outcomes import ClientGone, describe, failure_outcome, success_outcome

log = logging.getLogger("switchboard.proxy.upstream")

_CLOCK_RESOLUTION = 0.001
"""A deadline this close is due: uvloop's timers count whole milliseconds (of a clock that may lag
``time.monotonic``, the clock of the attempt's deadlines, by as much)."""


class AttemptScope:
    """What the body of one attempt sees and tells its owner.

    Only ``OwnedAttempt`` builds one (it is its own scope: one object per attempt, not an owner holding a scope);
    bodies are typed with this class and so see none of the owner's parts.
    """

    __slots__ = (
        "attempt",
        "began",
        "committed_at",
        "cost_usd",
        "deadline",
        "endpoint",
        "headroom",
        "number",
        "outcome",
        "silent_since",
        "trace",
        "usage",
        "waiting_on_client",
    )

    attempt: Attempt
    number: int  # 1 for the first attempt of the request
    deadline: float  # ``time.monotonic()`` when the request's whole budget (``retry.deadlineSeconds``) runs out
    began: float
    usage: Usage | None  # set by the body once known (for streams: so far)
    committed_at: float | None
    cost_usd: float | None  # set by the owner from the usage; None when unknown
    outcome: Outcome | None  # set by the owner when the attempt ended
    trace: AttemptTrace | None  # the attempt's span and GenAI metrics; None when both are off
    waiting_on_client: bool
    headroom: float | None  # the upstream's own quota left, from its rate-limit headers
    endpoint: str | None  # Service-backed providers: the endpoint last tried (ip:port)
    silent_since: float
    """``time.monotonic()`` since which the upstream has been silent, which ``firstByteSeconds`` bounds: from
    the attempt's start (a Service endpoint's: ``use_endpoint``), moved on by ``heard`` (each chunk of a body
    or a stream). Only ever moved on: the attempt's timer may have been armed for an older value, never
    later. Time blocked on the client is never the upstream's silence."""

    def use_endpoint(self, endpoint: str) -> None:
        """The attempt sends to ``endpoint`` now (one whose connect failed was skipped): its first byte is
        waited for from here."""
        self.endpoint = endpoint
        self.silent_since = time.monotonic()

    def heard(self) -> None:
        """The upstream just sent bytes: its silence starts over."""
        self.silent_since = time.monotonic()

    @property
    def committed(self) -> bool:
        """True once the client received bytes of this attempt: it can no longer fail over."""
        return self.committed_at is not None

    def commit(self) -> None:
        """The client is about to receive this attempt's first bytes."""
        if self.committed_at is None:
            self.committed_at = time.monotonic()

    async def to_client(self, write: Awaitable[object]) -> None:
        """Await a write towards the client: its errors, and time blocked on a slow reader, are the client's.

        A failed write raises ``ClientGone``, never a connection error the owner
        could take for the upstream's.
        """
        self.waiting_on_client = True  # stays set if the write is interrupted: the owner reads it then
        try:
            await write
        except (ConnectionError, aiohttp.ClientConnectionError) as error:
            raise ClientGone(f"writing to the client failed: {type(error).__name__}") from None
        self.waiting_on_client = False


class OwnedAttempt(AttemptScope):
    """``with OwnedAttempt(...) as scope``: runs one attempt's body; its one outcome is reported however it ends.

    Re-raises what ended the body, except that the total timeout firing while the
    body waited on the client becomes ``ClientGone`` (a reader too slow to keep up).
    A plain (not async) context manager: starting and ending an attempt never awaits,
    and it runs for every attempt (an ``async with`` costs two coroutines more).

    The total time and the upstream's silence (``silent_since``) share one timer, with
    ``asyncio.Timeout``'s semantics (the task is cancelled when it fires; that cancellation, and
    only that one, leaves as ``TimeoutError``): ``asyncio.Timeout`` costs three times a bare timer
    on Python 3.11 (enum state reads), and a timer re-armed on every read (aiohttp's ``sock_read``)
    costs two more per answer. It is armed for the earlier of the two and, when it fires for a
    silence that was broken since, re-armed for what is due then (rarely: answers come sooner).
    """

    __slots__ = ("_cancelling", "_ends_at", "_expired", "_limit", "_runtime", "_state", "_task", "_timer")

    def __init__(
        self, state: RequestState, attempt: Attempt, number: int, deadline: float, began: float | None = None
    ) -> None:
        """``state``: the request's, whose labels (provider, cost, spill...) the outcome sets and whose runtime
        (router, metrics, telemetry) it is reported to; ``deadline``: when the request's budget runs out;
        ``began``: ``time.monotonic()`` as the attempt starts, when the caller just read it."""
        self._state = state
        self._runtime = runtime = state.runtime
        self.attempt = attempt
        self.number = number
        self.deadline = deadline
        self.began = began = time.monotonic() if began is None else began
        self.usage = self.committed_at = self.cost_usd = self.outcome = self.headroom = self.endpoint = None
        self.waiting_on_client = False
        telemetry = runtime.telemetry
        self.trace = (  # None without the call when tracing and metering are both off
            attempt_trace(telemetry, state.span, attempt, endpoint=state.endpoint, number=number)
            if telemetry.tracing or telemetry.metering
            else None
        )
        limit = deadline - began  # comparisons rather than min(): a builtin call costs more
        if attempt.total_seconds < limit:
            limit = attempt.total_seconds
        self._limit = limit if limit > 0.001 else 0.001
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    def __enter__(self) -> AttemptScope:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("an attempt runs inside a task")
        self._task = task
        self._cancelling = task.cancelling()
        trace = self.trace
        if trace is not None:
            trace.__enter__()
        try:
            self.silent_since = began = self.began
            self._runtime.router.started(self.attempt, began)
            limit = self._limit
            self._ends_at = began + limit
            first_byte = self.attempt.first_byte_seconds
            self._timer = loop.call_later(first_byte if first_byte < limit else limit, self._expire)
        except BaseException as error:
            if trace is not None:
                trace.__exit__(type(error), error, error.__traceback__)
            raise
        return self

    def _expire(self) -> None:
        """The attempt's total time passed, or the upstream was silent too long: cancel its task (``__exit__``
        turns that into ``TimeoutError``). Neither yet (the silence was broken, or the attempt was waiting on
        the client, whose slowness is not the upstream's silence): re-armed for what is due next."""
        now = time.monotonic()
        silent_since = now if self.waiting_on_client else self.silent_since
        due = min(self._ends_at, silent_since + self.attempt.first_byte_seconds)
        if due - now >= _CLOCK_RESOLUTION:
            self._timer = self._task.get_loop().call_later(due - now, self._expire)
            return
        self._timer = None
        self._expired = True
        self._task.cancel()

    def _ended_by(self, kind: type[BaseException] | None, error: BaseException | None) -> BaseException | None:
        """What ended an attempt whose timer is gone: ``error``, or a ``TimeoutError`` when the cancellation
        was the timer's own."""
        if self._expired and self._task.uncancel() <= self._cancelling and kind is asyncio.CancelledError:
            return TimeoutError()
        return error

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        try:
            timer = self._timer
            if timer is not None:  # the attempt ended before its time was up (the timer never fired)
                self._timer = None
                timer.cancel()
                ended = error
            else:
                ended = self._ended_by(kind, error)
            if ended is None:
                self._finish(None)
            elif isinstance(ended, TimeoutError) and self.waiting_on_client:
                gone = ClientGone("the client did not read the stream in time")
                self._finish(gone)
                raise gone from ended
            else:
                self._finish(ended)
                if ended is not error:  # the timer's TimeoutError, like ``asyncio.Timeout``'s
                    raise ended from error
        except BaseException as leaving:
            if self.trace is not None:
                self.trace.__exit__(type(leaving), leaving, leaving.__traceback__)
            raise
        if self.trace is not None:
            self.trace.__exit__(kind, error, tb)

    def _finish(self, error: BaseException | None) -> None:
        """Report the attempt's one outcome everywhere it matters. Never raises."""
        attempt, runtime, usage = self.attempt, self._runtime, self.usage
        now = time.monotonic()
        streamed_from = self.committed_at  # set before the end only when a stream committed: its first token
        if error is None:
            if streamed_from is None:
                self.committed_at = now
            outcome = success_outcome(now - self.began, usage, self.headroom)
        else:
            outcome = failure_outcome(error, now - self.began, usage)
        self.outcome = outcome
        kind = outcome.kind
        changed = runtime.router.finished(attempt, outcome, now)
        provider, model = attempt.key  # the provider's "namespace/name" in metrics and logs (standalone: its name)
        if changed is not None:
            log.warning(
                "circuit of provider %s model %s: %s -> %s (after %s)",
                provider,
                model,
                *changed,
                kind.replace("_", " "),
            )
        state = self._state
        committed_at = self.committed_at
        if committed_at is not None or kind in ("client_gone", "cancelled"):
            state.provider = provider  # served it, or was serving it when the client left
        if self.endpoint is not None:
            state.upstream_endpoint = self.endpoint
        cost = None
        if usage is not None:  # spend when the model's price is known (unknown is not free)
            self.cost_usd = cost = cost_usd(attempt.price, usage)
            if state.reservation is not None:  # the fleet limiter reconciles reservations and budgets
                state.reservation.settle(attempt, usage, cost)
            if cost is not None:
                state.cost_usd = cost
        if committed_at is not None or usage is not None:
            runtime.metrics.route(state.api, state.endpoint, attempt.profile_key, provider).record(
                None if committed_at is None else committed_at - state.started_at,
                None if usage is None else (usage.prompt_tokens, usage.completion_tokens),
                cost,
            )
        if self.trace is not None:
            self.trace.ended(
                outcome,
                usage=usage,
                cost_usd=self.cost_usd,
                first_token_at=streamed_from,
                error=describe(error) if error is not None else None,
            )
        if kind != "success":
            self._log_failure(outcome, error)

    def _log_failure(self, outcome: Outcome, error: BaseException | None) -> None:
        (provider, model), kind = self.attempt.key, outcome.kind
        if outcome.party == "upstream":
            self._runtime.metrics.upstream_errors.labels(provider, kind).inc()
            log.warning(
                "upstream attempt failed: provider=%s model=%s kind=%s status=%s attempt=%d committed=%s: %s",
                provider,
                model,
                kind,
                outcome.status if outcome.status is not None else "-",
                self.number,
                self.committed,
                describe(error) if error is not None else "-",
            )
        elif kind in ("client_gone", "cancelled"):
            log.info("attempt %d on provider %s ended: %s", self.number, provider, kind.replace("_", " "))
        elif kind == "internal_error":
            log.error("attempt %d on provider %s failed inside the proxy", self.number, provider, exc_info=error)
