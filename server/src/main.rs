//! `vframe-server`: see the README's "Service" section for the start contract.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use tokio::sync::Notify;

use vframe_server::config::{Args, Config};
use vframe_server::http::{self, App};
use vframe_server::metrics::Metrics;
use vframe_server::notify::Notifier;
use vframe_server::store::Store;
use vframe_server::worker::{Engine, EngineLimits};

fn main() -> ExitCode {
    let config = match Config::from_args(Args::parse()) {
        Ok(config) => config,
        Err(message) => {
            vframe_server::log::print_error(&message);
            return ExitCode::from(2);
        }
    };
    vframe_server::log::init(config.log_json);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("vframe-http").build();
    let result = runtime.map_err(|e| e.to_string()).and_then(|rt| rt.block_on(run(config)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            vframe_server::log::print_error(&message);
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), String> {
    let data = config.data.clone();
    let queue = config.limits.queue;
    let store = tokio::task::spawn_blocking(move || Store::open(&data, queue))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("{}: {e}", config.data.display()))?;
    let store = Arc::new(store);
    let requeued = store.recover_jobs().map_err(|e| e.message)?;
    let metrics = Arc::new(Metrics::new());
    let notify_wake = Arc::new(Notify::new());
    let wake = notify_wake.clone();
    let limits = EngineLimits {
        timeout: config.limits.job_timeout,
        frames_timeout: config.limits.frames_timeout,
        max_frames: config.limits.max_frames,
        max_input_pixels: config.limits.max_input_pixels,
        max_decoded_frames: config.limits.max_decoded_frames,
        threads: config.limits.engine_threads,
    };
    let engine = Engine::start(
        store.clone(),
        metrics.clone(),
        config.workers,
        limits,
        config.limits.sync_queue,
        Box::new(move || wake.notify_one()),
    );
    let notifier = Arc::new(Notifier::new(store.clone(), config.notify.clone(), metrics.clone(), notify_wake.clone()));
    tokio::spawn(notifier.run());
    let sweeper = store.clone();
    let expiry = config.limits.upload_expiry;
    tokio::spawn(async move {
        loop {
            let store = sweeper.clone();
            if let Ok(Ok(n)) = tokio::task::spawn_blocking(move || store.sweep_uploads(expiry)).await {
                if n > 0 {
                    tracing::info!(removed = n, "expired resumable uploads removed");
                }
            }
            tokio::time::sleep(Duration::from_secs(600)).await;
        }
    });
    let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(|e| format!("{}: {e}", config.listen))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%address, data = %config.data.display(), workers = config.workers, requeued, "ready");
    // The start contract's line; an unwritable stdout must not stop the server.
    let mut stdout = std::io::stdout();
    let _ = writeln!(stdout, "vframe-server listening on http://{address}").and_then(|()| stdout.flush());
    let app = Arc::new(App { config, store, engine, metrics, notify_wake });
    http::serve(app.clone(), listener, shutdown_signal(), Duration::from_secs(10)).await;
    tracing::info!("stopping");
    let stopping = app.clone();
    let _ = tokio::task::spawn_blocking(move || stopping.engine.shutdown()).await;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
