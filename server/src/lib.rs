//! vframe-server: the Qiniu cloud's HTTP protocol in front of the vframe engine, so that
//! applications written against Qiniu's SDKs can point them at a self-hosted service.
//!
//! Layers, each calling only those below it:
//! - [`qiniu`]: the wire protocol as pure functions (signatures, tokens, fops, bodies).
//! - [`store`]: objects on disk and jobs in SQLite (durable before anything is answered).
//! - [`worker`]: the engine on a bounded set of threads (sync requests and persistent jobs).
//! - [`notify`]: job notifications with persisted retries.
//! - [`http`]: the HTTP server: routing, handlers, request ids, limits.
//! - [`config`], [`metrics`]: settings and Prometheus metrics.

pub mod config;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod qiniu;
pub mod store;
pub mod worker;
