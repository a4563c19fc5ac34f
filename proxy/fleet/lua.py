"""Server-side scripts: each runs atomically in Redis, so replicas never race on a bucket.

Buckets are hashes ``{l: level, t: stamp}`` refilled continuously at
capacity/60 per second from the server's own clock (``TIME``), so replicas with
skewed clocks still agree. Levels come back as strings (Lua numbers would be
truncated to integers on the way out).
"""

from switchboard.proxy.fleet.buckets import IDLE_EXPIRY_S

_LEVELS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function level_of(key, cap)
  local v = redis.call('HMGET', key, 'l', 't')
  if not v[1] then return cap end
  return math.min(cap, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * cap / 60)
end
local function store(key, level, cap)
  redis.call('HSET', key, 'l', tostring(level), 't', tostring(now))
  redis.call('EXPIRE', key, math.ceil((cap - level) * 60 / cap) + IDLE_EXPIRY)
end
""".replace("IDLE_EXPIRY", str(IDLE_EXPIRY_S))

RESERVE = (
    _LEVELS
    + """
-- KEYS: bucket keys (mandatory, then each candidate's), then spend keys, then the session's binding (if any).
-- ARGV: dry, n_mandatory, n_candidates, n_spend, binding ttl (0: no session), size of each candidate,
--       (capacity, amount) per bucket, limit per spend key, then (with a session) each candidate's provider key.
local dry, nmand, ncand = ARGV[1] == '1', tonumber(ARGV[2]), tonumber(ARGV[3])
local nspend, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local sizes, pos, nb = {}, 6, nmand
for c = 1, ncand do sizes[c] = tonumber(ARGV[pos]); nb = nb + sizes[c]; pos = pos + 1 end
local caps, amounts, levels = {}, {}, {}
for i = 1, nb do
  caps[i], amounts[i] = tonumber(ARGV[pos]), tonumber(ARGV[pos + 1])
  pos = pos + 2
  levels[i] = level_of(KEYS[i], caps[i])
end
local spent, in_budget = {}, true
for i = nb + 1, nb + nspend do
  spent[#spent + 1] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if spent[#spent] >= tonumber(ARGV[pos]) then in_budget = false end
  pos = pos + 1
end
local bound = 0
if ttl > 0 then
  local holder = redis.call('GET', KEYS[nb + nspend + 1])
  for c = 1, ncand do if ARGV[pos + c - 1] == holder then bound = c end end
end
local function fits(i) return levels[i] >= amounts[i] or levels[i] >= caps[i] end
local ok = in_budget
for i = 1, nmand do if not fits(i) then ok = false end end
local chosen, first, idx = 0, 0, nmand + 1
for c = 1, ncand do
  local all = true
  for i = idx, idx + sizes[c] - 1 do if not fits(i) then all = false end end
  if all and (chosen == 0 or c == bound) then chosen, first = c, idx end
  if all and c == bound then break end
  idx = idx + sizes[c]
end
local admitted = ok and (chosen > 0 or ncand == 0)
if admitted and not dry then
  for i = 1, nmand do store(KEYS[i], levels[i] - amounts[i], caps[i]) end
  if chosen > 0 then
    for i = first, first + sizes[chosen] - 1 do store(KEYS[i], levels[i] - amounts[i], caps[i]) end
    if ttl > 0 then redis.call('SET', KEYS[nb + nspend + 1], ARGV[pos + chosen - 1], 'PX', math.ceil(ttl * 1000)) end
  end
end
local out = {admitted and 1 or 0, admitted and chosen or 0, bound}
for i = 1, nb do out[#out + 1] = tostring(levels[i]) end
for i = 1, #spent do out[#out + 1] = tostring(spent[i]) end
return out
"""
)
"""Admit or refuse one request over its buckets, budgets and session binding (``buckets.decide``'s twin).

With ``dry`` it only reads (``/v1/routing/explain``): nothing is charged or bound."""

ADJUST = (
    _LEVELS
    + """
-- KEYS: bucket keys, spend keys, then a session's binding (if it moves).
-- ARGV: n_buckets, n_spend, (capacity, delta) per bucket, (usd, expire_at) per spend key, then provider and ttl.
local nb, nspend = tonumber(ARGV[1]), tonumber(ARGV[2])
local pos = 3
for i = 1, nb do
  local cap, delta = tonumber(ARGV[pos]), tonumber(ARGV[pos + 1])
  store(KEYS[i], math.min(cap, level_of(KEYS[i], cap) - delta), cap)
  pos = pos + 2
end
for i = nb + 1, nb + nspend do
  redis.call('INCRBYFLOAT', KEYS[i], ARGV[pos])
  redis.call('EXPIREAT', KEYS[i], ARGV[pos + 1])
  pos = pos + 2
end
if #KEYS > nb + nspend then
  redis.call('SET', KEYS[#KEYS], ARGV[pos], 'PX', math.ceil(tonumber(ARGV[pos + 1]) * 1000))
end
return #KEYS
"""
)
"""Reconcile reservations with real usage (or refund them), add the request's cost to its budgets, and move
a session to the provider that served it after a failover."""
