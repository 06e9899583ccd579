-- One token-bucket decision, atomic in Redis (see limiter.py for the rule).
-- KEYS[1]: the bucket, a hash {l = level, s = seconds, u = microseconds of the last change}; the level
--          is what was drawn and has not yet refilled, so a new limit applies at once (tokens = limit - level)
-- KEYS[2]: this minute's usage, a hash {a = units allowed, d = units denied}
-- ARGV: limit, period (microseconds), cost, peek (1 = decide without drawing), usage TTL (seconds),
--       tokens needed for the draw (limiter.py `_needed`: the cost capped at the limit, 1 for a debt draw,
--       -1e18 for a forced draw, which is always allowed),
--       units to count as denied if denied (the cost; 0 for a lease, which falls back to a single draw)
-- Returns {allowed 1|0, tokens left (full-precision string), microseconds until allowed}
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local peek = ARGV[4] == "1"
-- Redis's clock, so every web process agrees on time.
local clock = redis.call("TIME")
local level = 0
local state = redis.call("HMGET", KEYS[1], "l", "s", "u")
if state[1] then
  local elapsed = (tonumber(clock[1]) - tonumber(state[2])) * 1000000 + (tonumber(clock[2]) - tonumber(state[3]))
  if elapsed < 0 then elapsed = 0 end
  level = math.max(0, tonumber(state[1]) - elapsed * limit / period)
end
local tokens = limit - level
-- A cost above the whole bucket needs a full bucket and then leaves it in debt (a debt draw needs one token).
local needed = tonumber(ARGV[6]) or math.min(cost, limit)
if tokens + 1e-9 >= needed then
  if peek then
    return {1, string.format("%.17g", tokens), 0}
  end
  local after = tokens - cost
  redis.call("HSET", KEYS[1], "l", string.format("%.17g", level + cost), "s", clock[1], "u", clock[2])
  -- Once the bucket would be full again the key carries no information: let it expire.
  redis.call("PEXPIRE", KEYS[1], math.ceil((level + cost) * period / limit / 1000) + 1)
  redis.call("HINCRBY", KEYS[2], "a", cost)
  redis.call("EXPIRE", KEYS[2], ARGV[5])
  return {1, string.format("%.17g", after), 0}
end
local denied = tonumber(ARGV[7]) or cost
if not peek and denied > 0 then
  redis.call("HINCRBY", KEYS[2], "d", denied)
  redis.call("EXPIRE", KEYS[2], ARGV[5])
end
return {0, string.format("%.17g", tokens), math.ceil((needed - tokens) * period / limit)}
