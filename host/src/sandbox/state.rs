//! The data each call's store holds.

use super::limits::CallLimiter;
use crate::capabilities::CallCaps;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::WasiHttpCtx;

pub(crate) struct CallState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: CallLimiter,
    pub caps: CallCaps,
    /// wasi:http's own settings; its requests go through `caps`.
    pub http: WasiHttpCtx,
    /// The guest's stderr (where a Rust panic message goes), bounded.
    pub stderr: MemoryOutputPipe,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// A WASI context with clocks and random only: no files, no sockets, no
/// environment, no arguments; stdout discarded, stderr captured.
pub(crate) fn wasi_context(stderr: &MemoryOutputPipe) -> WasiCtx {
    WasiCtx::builder().allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false).stderr(stderr.clone()).build()
}
