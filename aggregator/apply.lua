#!lua
-- Applies one LedgerEntriesRecorded event of one stream, strictly in sequence, atomically.
-- The shebang (no flags) makes Redis refuse the whole script up front when it is out of memory or a
-- read-only replica, instead of failing at a write half-way through.
--
-- KEYS[1] the stream's state hash (seq = last applied sequence, stop = highest sequence seen while
--         stopped at a gap, fence = rebuild fencing counter)
-- KEYS[2] the stream's set of balance names    KEYS[3] the dirty set    KEYS[4] the stopped set
-- KEYS[5..] one balance hash per balance the event touches
-- ARGV[1] the event's sequence   ARGV[2] its occurredAt   ARGV[3] the stream id
-- ARGV[4..] per balance: name, signed sum of its postings, highest posting id, that posting's entry
--
-- Returns {outcome, applied before, was stopped, was known}: outcome 1 applied, 0 duplicate, 2 gap.
-- A stream without state is unknown: its first event must be sequence 1, anything else is a gap
-- (the stream is then rebuilt from Postgres).

local function gt(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end

local stream = KEYS[1]
local seq = tonumber(ARGV[1])
local state = redis.call('HMGET', stream, 'seq', 'stop')
local known = state[1] ~= false
local applied = known and tonumber(state[1]) or 0
local stopped = state[2] ~= false

if known and seq <= applied then
  return {0, applied, stopped and 1 or 0, known and 1 or 0}
end
if seq ~= applied + 1 then
  -- A gap: never skipped. Remember the highest sequence seen, so that a rebuild from Postgres
  -- only lets the stream flow again once Postgres holds at least that much.
  if not stopped or seq > tonumber(state[2]) then
    redis.call('HSET', stream, 'stop', ARGV[1])
  end
  redis.call('SADD', KEYS[4], ARGV[3])
  return {2, applied, stopped and 1 or 0, known and 1 or 0}
end

local i = 4
for k = 5, #KEYS do
  local h = KEYS[k]
  local name, sum, pid, entry = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  i = i + 4
  redis.call('HINCRBY', h, 'delta', sum)
  local wm = redis.call('HGET', h, 'wm')
  if not wm then
    -- A balance new to Redis builds on nothing: its postings start after posting id 0.
    redis.call('HSET', h, 'base', '0')
    wm = '0'
  end
  if gt(pid, wm) then
    redis.call('HSET', h, 'wm', pid, 'entry', entry, 'asof', ARGV[2])
  end
  redis.call('SADD', KEYS[2], name)
  redis.call('SADD', KEYS[3], name)
end
redis.call('HSET', stream, 'seq', ARGV[1])
if stopped then
  -- An in-order event of a stopped stream (a re-delivery or a DLQ re-drive) fills the gap; it
  -- also changes what a rebuild being prepared has read, so it moves the fence.
  redis.call('HINCRBY', stream, 'fence', 1)
  if seq >= tonumber(state[2]) then
    redis.call('HDEL', stream, 'stop')
    redis.call('SREM', KEYS[4], ARGV[3])
  end
end
return {1, applied, stopped and 1 or 0, known and 1 or 0}
