#!lua
-- Step 1 of a fold (the snapshot job): move a balance's delta into the fold slot, or return the
-- fold already in the slot (an earlier run did not confirm it). New postings keep accumulating in
-- a fresh delta that builds on the fold's watermark.
--
-- KEYS[1] the balance hash   KEYS[2] the dirty set   KEYS[3] the stream's state hash
-- ARGV[1] the balance name
-- Returns {fold base, fold delta, fold watermark, entry, asof}, or nil when there is nothing to fold
-- (or the stream is stopped at a gap: it is rebuilt before anything of it is folded again).

local h = KEYS[1]
if redis.call('HEXISTS', h, 'fwm') == 1 then
  return redis.call('HMGET', h, 'fbase', 'fdelta', 'fwm', 'fentry', 'fasof')
end
if redis.call('HEXISTS', KEYS[3], 'stop') == 1 then
  return false
end
local s = redis.call('HMGET', h, 'base', 'delta', 'wm', 'entry', 'asof')
if not s[3] or s[3] == s[1] then
  redis.call('SREM', KEYS[2], ARGV[1])
  return false
end
local delta = s[2] or '0'
redis.call('HSET', h, 'fbase', s[1], 'fdelta', delta, 'fwm', s[3], 'fentry', s[4], 'fasof', s[5], 'delta', '0', 'base', s[3])
return {s[1], delta, s[3], s[4], s[5]}
