"""Real backends: threaded TCP servers in this process (tcp), killable echo/HTTP servers in
processes of their own (echo_process) and nginx (nginx)."""
