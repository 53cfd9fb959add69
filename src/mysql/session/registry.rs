//! Every live session of the process by its id (the connection id of fastlb's greeting), so
//! that `KILL <id>` in one session can find another — on any worker thread — and reach its
//! server-side work: which servers it is connected to, under which server thread ids.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use tokio::sync::Notify;

use crate::balancer::Server;
use crate::mysql::config::MysqlUser;
use crate::mysql::Role;

static SESSIONS: LazyLock<Mutex<HashMap<u32, Arc<SessionHandle>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// One server connection of a session: the server and the thread id its greeting gave.
#[derive(Clone)]
pub struct ServerThread {
    pub server: Arc<Server>,
    pub thread_id: u32,
}

/// What other sessions may know of a session: its id, backend and user, its server
/// threads, and the switch that ends it.
pub struct SessionHandle {
    pub id: u32,
    pub backend: String,
    user: Mutex<MysqlUser>,
    threads: Mutex<Threads>,
    killed: AtomicBool,
    kill: Notify,
}

/// A session's server threads, and how many KILLs are on their way to them: a connection
/// the session lets go meanwhile must not reach another session (the KILL would).
#[derive(Default)]
struct Threads {
    by_role: [Option<ServerThread>; 2],
    kills_in_flight: usize,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SessionHandle {
    /// Registers session `id`; it stays findable until `Registration` is dropped.
    pub fn register(id: u32, backend: &str, user: MysqlUser) -> Registration {
        let handle = Arc::new(SessionHandle {
            id,
            backend: backend.to_owned(),
            user: Mutex::new(user),
            threads: Mutex::new(Threads::default()),
            killed: AtomicBool::new(false),
            kill: Notify::new(),
        });
        lock(&SESSIONS).insert(id, handle.clone());
        Registration(handle)
    }

    /// The live session with `id`.
    pub fn find(id: u64) -> Option<Arc<SessionHandle>> {
        let id = u32::try_from(id).ok()?;
        lock(&SESSIONS).get(&id).cloned()
    }

    pub fn user(&self) -> MysqlUser {
        lock(&self.user).clone()
    }

    pub fn set_user(&self, user: MysqlUser) {
        *lock(&self.user) = user;
    }

    /// Notes the session's connection on `role`'s side.
    pub fn set_thread(&self, role: Role, thread: ServerThread) {
        lock(&self.threads).by_role[role as usize] = Some(thread);
    }

    /// Forgets the session's connection on `role`'s side. True when it may still be
    /// killed (a KILL is on its way, or the session was killed): the connection must then
    /// be closed, never pooled for another session.
    pub fn clear_thread(&self, role: Role) -> bool {
        let mut threads = lock(&self.threads);
        threads.by_role[role as usize] = None;
        threads.kills_in_flight > 0 || self.killed.load(Ordering::Acquire)
    }

    /// The session's server connections now, for a KILL about to be sent to them; until
    /// `end_kill`, a connection the session lets go is closed (`clear_thread`).
    pub fn begin_kill(&self) -> Vec<ServerThread> {
        let mut threads = lock(&self.threads);
        threads.kills_in_flight += 1;
        threads.by_role.iter().flatten().cloned().collect()
    }

    /// The KILL begun with `begin_kill` was sent.
    pub fn end_kill(&self) {
        let mut threads = lock(&self.threads);
        threads.kills_in_flight = threads.kills_in_flight.saturating_sub(1);
    }

    /// Ends the session: it stops what it is doing and closes.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Release);
        self.kill.notify_one();
    }

    /// Resolves once the session is killed.
    pub async fn killed(&self) {
        if self.killed.load(Ordering::Acquire) {
            return;
        }
        self.kill.notified().await;
    }
}

/// A session's place in the registry, released when the session ends.
pub struct Registration(pub Arc<SessionHandle>);

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&SESSIONS).remove(&self.0.id);
    }
}
