//! `KILL`, answered by fastlb: the ids clients see are fastlb's
//! session ids (the greeting's connection id), never a server's thread ids.
//!
//! `KILL [CONNECTION] id` / COM_PROCESS_KILL ends session `id`; `KILL QUERY id` stops its
//! statement. Allowed, as the server allows it, for a session of the same user — or for
//! a user listed in `mysql.kill_admins` — on the same backend; another user's session gets
//! 1095 ("You are not owner of thread"), any other id 1094 ("Unknown thread id"). The
//! server-side work is stopped with `KILL QUERY|CONNECTION <thread id>` sent over a new,
//! separate connection to each server the target session is connected to, logged in as the
//! *target's* user (fastlb holds the configured users' passwords; a server lets a user kill
//! its own threads without any privilege). A client-supplied id never reaches a server.

use std::sync::Arc;

use super::registry::SessionHandle;
use super::upstream::{Login, Upstream};
use super::{Flow, Session};
use crate::mysql::protocol::packet::error_code;

impl Session {
    /// This session's id: its greeting's connection id, what CONNECTION_ID() answers.
    pub fn id(&self) -> u32 {
        self.registration.0.id
    }

    /// Whether this session's user may kill `target`.
    fn may_kill(&self, target: &SessionHandle) -> bool {
        let me = &self.user.user;
        target.user().user == *me || self.settings.config.kill_admins.iter().any(|a| a == me)
    }

    /// `KILL [CONNECTION|QUERY] id` or COM_PROCESS_KILL (`query`: only the statement).
    pub(super) async fn kill(&mut self, id: u64, query: bool, seq: u8) -> Flow {
        let target = SessionHandle::find(id).filter(|t| t.backend == self.backend.name);
        let Some(target) = target else {
            let message = format!("Unknown thread id: {id}");
            return self
                .send_error(error_code::NO_SUCH_THREAD, b"HY000", &message, seq)
                .await;
        };
        if !self.may_kill(&target) {
            let message = format!("You are not owner of thread {id}");
            return self
                .send_error(error_code::KILL_DENIED, b"HY000", &message, seq)
                .await;
        }
        if target.id == self.id() {
            // Nothing else of this session runs now; killing its connection ends it, as
            // the server does.
            if query {
                return self.send_ok(seq).await;
            }
            self.send_error(
                error_code::CONNECTION_KILLED,
                b"70100",
                "Connection was killed",
                seq,
            )
            .await;
            return Flow::Close;
        }
        // The thread ids before the session hears of its end (it then closes them). Until
        // `end_kill`, a connection the target lets go is closed instead of pooled: with
        // pooling (multiplexing above all) it could otherwise serve another session by the
        // time this KILL reaches its thread.
        let threads = target.begin_kill();
        if !query {
            target.kill();
        }
        let verb = if query { "QUERY" } else { "CONNECTION" };
        let user = target.user();
        for thread in threads {
            let sql = format!("KILL {verb} {}", thread.thread_id);
            self.run_on(thread.server, &user, sql.as_bytes()).await;
        }
        target.end_kill();
        self.send_ok(seq).await
    }

    /// Runs `sql` on a new connection to `server` as `user`, and closes it. The outcome
    /// doesn't matter: the statement may have ended meanwhile (1094), the server be gone.
    async fn run_on(
        &self,
        server: Arc<crate::balancer::Server>,
        user: &crate::mysql::config::MysqlUser,
        sql: &[u8],
    ) {
        let login = Login {
            user,
            database: None,
            collation: self.collation,
            client_capabilities: 0,
            track_gtid: false,
        };
        let opened = Upstream::open(server, &self.backend, &login, self.connect_timeout).await;
        if let Ok(mut upstream) = opened {
            let _ = upstream.query(sql).await;
            upstream.quit().await;
        }
    }
}
