-- sysbench script for bench.mysql_causal: per event nine point selects and one indexed
-- update, each its own autocommit statement (no BEGIN/COMMIT), so the reads can go to a
-- replica and a tenth of the statements are writes whose GTIDs causal reads must follow.
require("oltp_common")

function prepare_statements()
   prepare_point_selects()
   prepare_index_updates()
end

function event()
   execute_point_selects()
   execute_index_updates()
end
