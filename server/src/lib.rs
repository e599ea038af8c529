//! vframe-server: the Qiniu cloud's HTTP protocol in front of the vframe engine, so that
//! applications written against Qiniu's SDKs can point them at a self-hosted service.
//!
//! Layers, each calling only those below it:
//! - [`qiniu`]: the wire protocol as pure functions (signatures, tokens, fops, bodies).
//! - [`store`]: objects on disk and jobs in SQLite (durable before anything is answered).
//! - [`worker`]: the engine on a bounded set of threads (sync requests and persistent jobs);
//!   [`frames`]: the items of several outputs (vsample, storyboard), streamed to the store.
//! - [`notify`]: job notifications with persisted retries.
//! - [`http`]: the HTTP server: routing, handlers, request ids, limits.
//! - [`config`], [`metrics`], [`log`]: settings, Prometheus metrics, logs that never block.

pub mod config;
pub mod frames;
pub mod http;
pub mod log;
pub mod metrics;
pub mod notify;
pub mod qiniu;
pub mod store;
pub mod worker;
