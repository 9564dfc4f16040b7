#!lua
-- Commits a stream's rebuild from Postgres: replaces every balance of the stream with the state
-- read from Postgres at sequence N, and sets the stream's applied sequence to N. Fenced: it writes
-- only if the stream's fence is still the one read when the rebuild was prepared (no fold ended,
-- no other rebuild committed, no event applied to the stopped stream since), and never moves a
-- stream back (Redis applied beyond N: Postgres was read too early).
--
-- KEYS[1] the stream's state hash   KEYS[2] its set of balance names   KEYS[3] the dirty set
-- KEYS[4] the stopped set   KEYS[5 .. 4+M] the balance hashes the stream had (M = ARGV[4])
-- KEYS[5+M ..] the balance hashes of the rebuilt state
-- ARGV[1] the stream id   ARGV[2] the fence read when prepared   ARGV[3] N   ARGV[4] M
-- ARGV[5 .. 4+M] the names the stream had; then per rebuilt balance: name, base, delta, wm, entry, asof
-- Returns 1 rebuilt (the stream flows), 3 rebuilt but still stopped (Redis saw a sequence above N),
-- -1 superseded (the fence moved), -2 behind (Redis applied beyond N).

local stream = KEYS[1]
local st = redis.call('HMGET', stream, 'fence', 'seq', 'stop')
if (st[1] or '0') ~= ARGV[2] then
  return -1
end
local n = tonumber(ARGV[3])
if st[2] and tonumber(st[2]) > n then
  return -2
end
local m = tonumber(ARGV[4])
for j = 1, m do
  redis.call('DEL', KEYS[4 + j])
  redis.call('SREM', KEYS[3], ARGV[4 + j])
end
redis.call('DEL', KEYS[2])
local i = 5 + m
for k = 5 + m, #KEYS do
  local name, base, delta, wm, entry, asof = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  i = i + 6
  redis.call('DEL', KEYS[k])
  redis.call('HSET', KEYS[k], 'base', base, 'delta', delta, 'wm', wm, 'entry', entry, 'asof', asof)
  redis.call('SADD', KEYS[2], name)
  if wm ~= base then
    redis.call('SADD', KEYS[3], name)
  end
end
redis.call('HSET', stream, 'seq', ARGV[3])
redis.call('HINCRBY', stream, 'fence', 1)
if st[3] and tonumber(st[3]) > n then
  return 3
end
redis.call('HDEL', stream, 'stop')
redis.call('SREM', KEYS[4], ARGV[1])
return 1
