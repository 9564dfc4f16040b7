#!lua
-- A fold Postgres refused: the snapshot is neither at the fold's base nor at its watermark, so
-- Redis and Postgres no longer describe the same postings (Redis lost or rolled back data, or was
-- rebuilt while the fold ran). Put the fold back into the delta and stop the stream, so that it
-- is rebuilt from Postgres; a stopped stream is not folded. Only if the slot is still this fold.
--
-- KEYS[1] the balance hash   KEYS[2] the stream's state hash   KEYS[3] the stopped set
-- ARGV[1] the fold's base   ARGV[2] the fold's watermark   ARGV[3] the stream id
-- Returns 1 when the stream was stopped, 0 when the slot held something else.

local f = redis.call('HMGET', KEYS[1], 'fbase', 'fwm', 'fdelta')
if f[1] ~= ARGV[1] or f[2] ~= ARGV[2] then
  return 0
end
redis.call('HDEL', KEYS[1], 'fbase', 'fdelta', 'fwm', 'fentry', 'fasof')
redis.call('HINCRBY', KEYS[1], 'delta', f[3])
redis.call('HSET', KEYS[1], 'base', ARGV[1])
local s = redis.call('HMGET', KEYS[2], 'seq', 'stop')
local applied = s[1] or '0'
if not s[2] or tonumber(s[2]) < tonumber(applied) then
  redis.call('HSET', KEYS[2], 'stop', applied)
end
redis.call('HINCRBY', KEYS[2], 'fence', 1)
redis.call('SADD', KEYS[3], ARGV[3])
return 1
