#!lua
-- Step 3 of a fold: Postgres holds the fold; clear the slot - only if it is still the same fold
-- (a compare-and-set on its base and watermark: a rebuild may have replaced the balance meanwhile).
--
-- KEYS[1] the balance hash   KEYS[2] the dirty set   KEYS[3] the stream's state hash
-- ARGV[1] the balance name   ARGV[2] the fold's base   ARGV[3] the fold's watermark
-- Returns 1 when cleared, 0 when the slot held something else.

local f = redis.call('HMGET', KEYS[1], 'fbase', 'fwm')
if f[1] ~= ARGV[2] or f[2] ~= ARGV[3] then
  return 0
end
redis.call('HDEL', KEYS[1], 'fbase', 'fdelta', 'fwm', 'fentry', 'fasof')
-- The snapshot moved: a rebuild prepared before this point read an older one.
redis.call('HINCRBY', KEYS[3], 'fence', 1)
if redis.call('HGET', KEYS[1], 'wm') == ARGV[3] then
  redis.call('SREM', KEYS[2], ARGV[1])
end
return 1
