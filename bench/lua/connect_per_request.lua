-- sysbench 1.0 script: each event connects, runs one point select and disconnects (a PHP
-- or CGI request). sysbench 1.0 has no --reconnect; its Lua driver API opens connections.
local drv

function thread_init()
  drv = sysbench.sql.driver()
end

function event()
  local con = drv:connect()
  con:query(string.format("SELECT c FROM sbtest1 WHERE id=%d", sysbench.rand.uniform(1, 10000)))
  con:disconnect()
end
