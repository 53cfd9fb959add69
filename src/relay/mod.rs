//! Moving bytes between client and server: splice(2) through pooled pipes, or copying.
