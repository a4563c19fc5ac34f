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
-- ARGV: n_mandatory, n_candidates, size of each candidate, then (capacity, amount) per key.
local nmand, ncand = tonumber(ARGV[1]), tonumber(ARGV[2])
local sizes, pos = {}, 3
for c = 1, ncand do sizes[c] = tonumber(ARGV[pos]); pos = pos + 1 end
local caps, amounts, levels = {}, {}, {}
for i = 1, #KEYS do
  caps[i], amounts[i] = tonumber(ARGV[pos]), tonumber(ARGV[pos + 1])
  pos = pos + 2
  levels[i] = level_of(KEYS[i], caps[i])
end
local function fits(i) return levels[i] >= amounts[i] or levels[i] >= caps[i] end
local ok = true
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
local out = {admitted and 1 or 0, chosen}
for i = 1, #KEYS do out[#out + 1] = tostring(levels[i]) end
return out
"""
)
"""Admit or refuse one request over its mandatory and candidate buckets (``buckets.decide``'s twin)."""

ADJUST = (
    _LEVELS
    + """
-- ARGV: (capacity, delta) per key; a negative delta refunds.
for i = 1, #KEYS do
  local cap, delta = tonumber(ARGV[2 * i - 1]), tonumber(ARGV[2 * i])
  store(KEYS[i], math.min(cap, level_of(KEYS[i], cap) - delta), cap)
end
return #KEYS
"""
)
"""Reconcile reservations with real usage (or refund them) after the request ended."""
