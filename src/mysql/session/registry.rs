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
    threads: Mutex<[Option<ServerThread>; 2]>,
    killed: AtomicBool,
    kill: Notify,
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
            threads: Mutex::new([None, None]),
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

    /// Notes the session's connection on `role`'s side (None: closed).
    pub fn set_thread(&self, role: Role, thread: Option<ServerThread>) {
        lock(&self.threads)[role as usize] = thread;
    }

    /// The session's server connections now.
    pub fn threads(&self) -> Vec<ServerThread> {
        lock(&self.threads).iter().flatten().cloned().collect()
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
