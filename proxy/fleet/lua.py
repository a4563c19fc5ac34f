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
-- KEYS: bucket keys (mandatory, then each candidate's), then spend keys.
-- ARGV: n_mandatory, n_candidates, size of each candidate, (capacity, amount) per bucket, limit per spend key.
local nmand, ncand = tonumber(ARGV[1]), tonumber(ARGV[2])
local sizes, pos, nb = {}, 3, nmand
for c = 1, ncand do sizes[c] = tonumber(ARGV[pos]); nb = nb + sizes[c]; pos = pos + 1 end
local caps, amounts, levels = {}, {}, {}
for i = 1, nb do
  caps[i], amounts[i] = tonumber(ARGV[pos]), tonumber(ARGV[pos + 1])
  pos = pos + 2
  levels[i] = level_of(KEYS[i], caps[i])
end
local spent, in_budget = {}, true
for i = nb + 1, #KEYS do
  spent[#spent + 1] = tonumber(redis.call('GET', KEYS[i]) or '0')
  if spent[#spent] >= tonumber(ARGV[pos]) then in_budget = false end
  pos = pos + 1
end
local function fits(i) return levels[i] >= amounts[i] or levels[i] >= caps[i] end
local ok = in_budget
for i = 1, nmand do if not fits(i) then ok = false end end
local chosen, first, idx = 0, 0, nmand + 1
for c = 1, ncand do
  local all = true
  for i = idx, idx + sizes[c] - 1 do if not fits(i) then all = false end end
  if all and chosen == 0 then chosen, first = c, idx end
  idx = idx + sizes[c]
end
local admitted = ok and (chosen > 0 or ncand == 0)
if admitted then
  for i = 1, nmand do store(KEYS[i], levels[i] - amounts[i], caps[i]) end
  if chosen > 0 then
    for i = first, first + sizes[chosen] - 1 do store(KEYS[i], levels[i] - amounts[i], caps[i]) end
  end
end
local out = {admitted and 1 or 0, admitted and chosen or 0}
for i = 1, nb do out[#out + 1] = tostring(levels[i]) end
for i = 1, #spent do out[#out + 1] = tostring(spent[i]) end
return out
"""
)
"""Admit or refuse one request over its buckets and budgets (``buckets.decide``'s twin)."""

ADJUST = (
    _LEVELS
    + """
-- KEYS: bucket keys, then spend keys. ARGV: n_buckets, (capacity, delta) per bucket, (usd, expire_at) per spend key.
local nb = tonumber(ARGV[1])
for i = 1, nb do
  local cap, delta = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  store(KEYS[i], math.min(cap, level_of(KEYS[i], cap) - delta), cap)
end
local pos = 2 * nb + 2
for i = nb + 1, #KEYS do
  redis.call('INCRBYFLOAT', KEYS[i], ARGV[pos])
  redis.call('EXPIREAT', KEYS[i], ARGV[pos + 1])
  pos = pos + 2
end
return #KEYS
"""
)
"""Reconcile reservations with real usage (or refund them) and add the request's cost to its budgets."""
